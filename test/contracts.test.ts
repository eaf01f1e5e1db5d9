/**
 * The contract check of `ferry build`, one kind of change at a time, on real TypeScript (and JavaScript) sources: a
 * remote is built at 1.0.0, its source is changed, and it is built again as a patch release against the first
 * build (the output folder's, the default baseline). Each test asserts the classification of the export and, for a
 * breaking change, the refusal's message: the expose, the export, the change, and the declarations side by side.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { type BuildResult, buildRemote, formatBuildSummary } from '../src/build/index.ts';
import { BreakingChangeError } from '../src/common/errors.ts';
import { MANIFEST_FILE, parseManifest } from '../src/manifest/index.ts';
import { runFerry } from './helpers/build-fixture.ts';
import { createTempProject, type TempProject } from './helpers/temp-project.ts';

const config = (file: string) => JSON.stringify({ name: 'api', exposes: { './api': `./src/${file}` } });
const pkg = (version: string) => JSON.stringify({ name: 'api', version, type: 'module' });

/** Builds `before` as 1.0.0, then `after` as `version` (default 1.0.1): the second build's result or its error. */
async function change(
  before: string,
  after: string,
  options: { version?: string; file?: string } = {},
): Promise<{ project: TempProject; result?: BuildResult; error?: BreakingChangeError }> {
  const file = options.file ?? 'api.ts';
  const project = await createTempProject({
    'package.json': pkg('1.0.0'),
    'ferry.config.json': config(file),
    [`src/${file}`]: before,
  });
  await buildRemote({ root: project.dir, env: {} });
  await project.write(`src/${file}`, after);
  await project.write('package.json', pkg(options.version ?? '1.0.1'));
  try {
    return { project, result: await buildRemote({ root: project.dir, env: {} }) };
  } catch (error) {
    if (!(error instanceof BreakingChangeError)) throw error;
    return { project, error };
  }
}

function verdictOf(result: BuildResult | undefined, name: string) {
  const verdict = result?.contract?.exposes[0]?.verdicts.find((candidate) => candidate.name === name);
  assert.ok(verdict, `a verdict for ${name}: ${JSON.stringify(result?.contract)}`);
  return verdict;
}

/** Asserts a refusal naming `./api`, the export, the change, and the declarations before and after. */
function assertRefused(
  outcome: { error?: BreakingChangeError; result?: BuildResult },
  name: string,
  changeText: string | RegExp,
  was: string,
  now: string,
) {
  assert.ok(outcome.error, `the build was refused (got ${JSON.stringify(outcome.result?.contract)})`);
  const { message } = outcome.error;
  assert.equal(outcome.error.code, 'ERR_FERRY_BREAKING_CHANGE');
  const line = message.split('\n').find((text) => text.startsWith(`  ./api  ${name}: `));
  assert.ok(line, `a line for ./api ${name} in:\n${message}`);
  if (typeof changeText === 'string') assert.equal(line, `  ./api  ${name}: ${changeText}`);
  else assert.match(line, changeText);
  assert.ok(message.includes(`      was  ${was}\n`), `was line "${was}" in:\n${message}`);
  assert.ok(message.includes(`      now  ${now}\n`), `now line "${now}" in:\n${message}`);
  assert.match(message, /1\.0\.1 is not a new major version/);
  assert.match(message, /version 2\.0\.0 in package\.json/);
  assert.match(message, /--allow-breaking "<reason>"/);
  assert.deepEqual(
    outcome.error.changes?.map((entry) => entry.export),
    [name],
    'the error lists exactly the breaking export',
  );
}

async function manifestOf(project: TempProject) {
  const file = project.path('dist', 'federation', MANIFEST_FILE);
  return parseManifest(await readFile(file), file);
}

describe('ferry build classifies each change of an expose API', () => {
  test('a removed export is breaking', async () => {
    const outcome = await change(
      'export function a(x: string): string { return x; }\nexport function b(): number { return 1; }\n',
      'export function a(x: string): string { return x; }\n',
    );
    await using _ = outcome.project;
    assertRefused(outcome, 'b', 'removed', 'function b(): number;', '(gone)');
    // Nothing was written: the output folder still holds 1.0.0.
    assert.equal((await manifestOf(outcome.project)).ferry.version, '1.0.0');
  });

  test('a changed parameter type is breaking', async () => {
    const outcome = await change(
      'export function parse(input: string): number { return Number(input); }\n',
      'export function parse(input: number): number { return input; }\n',
    );
    await using _ = outcome.project;
    assertRefused(
      outcome,
      'parse',
      'parameter `input` accepts less (was string, now number)',
      'function parse(input: string): number;',
      'function parse(input: number): number;',
    );
  });

  test('a new required parameter is breaking (the issue example)', async () => {
    const outcome = await change(
      'export function validateJwtToken(token: string): boolean { return token.length > 0; }\n',
      'export interface ValidateOptions { audience: string }\n' +
        'export function validateJwtToken(token: string, options: ValidateOptions): boolean { return token === options.audience; }\n',
    );
    await using _ = outcome.project;
    assertRefused(
      outcome,
      'validateJwtToken',
      'new required parameter `options`',
      'function validateJwtToken(token: string): boolean;',
      'function validateJwtToken(token: string, options: ValidateOptions): boolean;',
    );
  });

  test('a new optional parameter is compatible, and the release records no breaking change', async () => {
    const outcome = await change(
      'export function greet(name: string): string { return name; }\n',
      'export function greet(name: string, punctuation?: string): string { return name + (punctuation ?? ""); }\n',
    );
    await using _ = outcome.project;
    assert.equal(outcome.error, undefined, outcome.error?.message);
    assert.equal(verdictOf(outcome.result, 'greet').status, 'compatible');
    assert.match(formatBuildSummary(outcome.result!), /^ {2}\.\/api: 1 compatible \(greet\)$/m);
    const manifest = await manifestOf(outcome.project);
    assert.deepEqual(manifest.ferry.contract, { baseline: '1.0.0', checked: 'types', breaking: [] });
  });

  test('a widened return type is breaking', async () => {
    const outcome = await change(
      'export function find(id: string): string { return id; }\n',
      'export function find(id: string): string | undefined { return id || undefined; }\n',
    );
    await using _ = outcome.project;
    assertRefused(
      outcome,
      'find',
      'return type widened or changed (was string, now string | undefined)',
      'function find(id: string): string;',
      'function find(id: string): string | undefined;',
    );
  });

  test('a type alias renamed with the same structure leaves the export unchanged', async () => {
    const outcome = await change(
      'export const ISSUER = "auth";\ntype Claims = { sub: string; exp: number };\nexport function decode(token: string): Claims { return { sub: token, exp: 0 }; }\n',
      'export const ISSUER = "auth";\ntype TokenClaims = { sub: string; exp: number };\nexport function decode(token: string): TokenClaims { return { sub: token, exp: 0 }; }\n',
    );
    await using _ = outcome.project;
    assert.equal(outcome.error, undefined, outcome.error?.message);
    // The declarations differ as text; the checker finds the same structure.
    assert.equal(verdictOf(outcome.result, 'decode').status, 'unchanged');
    // A literal-typed constant has no members of its own (String's, some keyed by symbols, are not its API).
    assert.equal(verdictOf(outcome.result, 'ISSUER').status, 'unchanged');
    const summary = formatBuildSummary(outcome.result!);
    assert.match(summary, /^API compared with 1\.0\.0 \(.*\), by TypeScript's assignability:$/m);
    assert.match(summary, /^ {2}\.\/api: 2 unchanged$/m);
  });

  test('a property removed from an interface is breaking, even an optional one', async () => {
    const outcome = await change(
      'export interface User { id: string; email?: string }\n',
      'export interface User { id: string }\n',
    );
    await using _ = outcome.project;
    assertRefused(
      outcome,
      'User',
      'property `email` removed',
      'interface User { id: string; email?: string; }',
      'interface User { id: string; }',
    );
  });

  test('a method removed from a class is breaking', async () => {
    const outcome = await change(
      'export class Session {\n  open(): void {}\n  close(): void {}\n}\n',
      'export class Session {\n  open(): void {}\n}\n',
    );
    await using _ = outcome.project;
    assertRefused(
      outcome,
      'Session',
      'method `close` removed',
      'class Session { open(): void; close(): void; }',
      'class Session { open(): void; }',
    );
  });

  test('a removed overload is breaking; an added one is compatible', async () => {
    const two =
      'export function pick(x: string): string;\nexport function pick(x: number): number;\n' +
      'export function pick(x: string | number): string | number { return x; }\n';
    const one = 'export function pick(x: string): string;\nexport function pick(x: string): string { return x; }\n';
    const removed = await change(two, one);
    await using _removed = removed.project;
    assertRefused(
      removed,
      'pick',
      'an overload was removed (2 before, 1 now)',
      'function pick(x: string): string; function pick(x: number): number;',
      'function pick(x: string): string;',
    );
    const added = await change(one, two);
    await using _added = added.project;
    assert.equal(added.error, undefined, added.error?.message);
    assert.equal(verdictOf(added.result, 'pick').status, 'compatible');
    assert.match(formatBuildSummary(added.result!), /^ {2}\.\/api: 1 compatible \(pick\)$/m);
  });

  test('a JavaScript remote (no types): a vanished export is breaking by name and kind', async () => {
    const outcome = await change(
      'export function sign(x) { return x; }\nexport class Keys {}\nexport const ttl = 60;\n',
      'export class Keys {}\nexport const ttl = 60;\nexport function rotate() {}\n',
      { file: 'api.js' },
    );
    await using _ = outcome.project;
    assertRefused(outcome, 'sign', 'removed', 'function sign', '(gone)');
    assert.match(outcome.error!.message, /compared with 1\.0\.0/);
  });

  test('a JavaScript remote: an export named like an Object.prototype member is compared as any other', async () => {
    const outcome = await change(
      'export function toString() { return "api"; }\nexport const a = 1;\n',
      'export const a = 1;\n',
      { file: 'api.js' },
    );
    await using _ = outcome.project;
    assertRefused(outcome, 'toString', 'removed', 'function toString', '(gone)');
  });

  test('a JavaScript remote records its export names and kinds in the manifest, and additions are compatible', async () => {
    const outcome = await change(
      'export function sign(x) { return x; }\nexport class Keys {}\nexport const ttl = 60;\nexport const make = () => 1;\n',
      'export function sign(x) { return x; }\nexport class Keys {}\nexport const ttl = 60;\nexport const make = () => 1;\nexport function rotate() {}\n',
      { file: 'api.js' },
    );
    await using _ = outcome.project;
    assert.equal(outcome.error, undefined, outcome.error?.message);
    const manifest = await manifestOf(outcome.project);
    assert.deepEqual(
      { ...manifest.ferry.exposes['./api']!.exports },
      {
        Keys: 'class',
        make: 'function',
        rotate: 'function',
        sign: 'function',
        ttl: 'value',
      },
    );
    assert.equal(manifest.ferry.contract?.checked, 'names');
    assert.equal(verdictOf(outcome.result, 'rotate').status, 'compatible');
    assert.equal(verdictOf(outcome.result, 'sign').status, 'unchanged');
    const summary = formatBuildSummary(outcome.result!);
    assert.match(summary, /by export names and kinds only:$/m);
    assert.match(summary, /^ {2}\.\/api: 1 compatible \(rotate\), 4 unchanged$/m);
  });

  test("a baseline URL that cannot be reached falls back to the output folder's previous build, with a warning", async () => {
    const project = await createTempProject({
      'package.json': pkg('1.0.0'),
      // Port 1 on loopback: nothing listens there, the connection is refused at once.
      'ferry.config.json': JSON.stringify({
        name: 'api',
        exposes: { './api': './src/api.ts' },
        baseline: 'http://127.0.0.1:1/federation/',
      }),
      'src/api.ts': 'export function f(a: string): string { return a; }\n',
    });
    await using _ = project;
    const first = await buildRemote({ root: project.dir, env: {} });
    assert.equal(first.contract, undefined, 'nothing to compare with yet');
    assert.match(
      first.warnings.join('\n'),
      /the baseline release at http:\/\/127\.0\.0\.1:1\/federation\/mf-manifest\.json could not be read .* compared with the previous build in/,
    );
    await project.write('src/api.ts', 'export function f(a: number): string { return String(a); }\n');
    await project.write('package.json', pkg('1.0.1'));
    await assert.rejects(buildRemote({ root: project.dir, env: {} }), (error: BreakingChangeError) => {
      assert.match(error.message, /compared with 1\.0\.0 \(.*dist\/federation\)/);
      assert.match(error.message, /\.\/api {2}f: parameter `a` accepts less \(was string, now number\)/);
      return true;
    });
  });

  test('a removed expose is breaking', async () => {
    const project = await createTempProject({
      'package.json': pkg('1.0.0'),
      'ferry.config.json': JSON.stringify({ name: 'api', exposes: { './a': './src/a.ts', './b': './src/b.ts' } }),
      'src/a.ts': 'export const a: number = 1;\n',
      'src/b.ts': 'export const b: number = 2;\n',
    });
    await using _ = project;
    await buildRemote({ root: project.dir, env: {} });
    await project.write('ferry.config.json', config('a.ts').replace('./api', './a'));
    await project.write('package.json', pkg('1.1.0'));
    await assert.rejects(buildRemote({ root: project.dir, env: {} }), (error: BreakingChangeError) => {
      assert.equal(error.code, 'ERR_FERRY_BREAKING_CHANGE');
      assert.match(error.message, /^ {2}\.\/b: the whole expose was removed$/m);
      return true;
    });
  });

  test('a breaking change as a new major version is released and recorded; an override is recorded with its reason', async () => {
    const before = 'export function f(a: string): string { return a; }\n';
    const after = 'export function f(a: string, b: string): string { return a + b; }\n';
    const major = await change(before, after, { version: '2.0.0' });
    await using _major = major.project;
    assert.equal(major.error, undefined, major.error?.message);
    assert.deepEqual((await manifestOf(major.project)).ferry.contract, {
      baseline: '1.0.0',
      checked: 'types',
      breaking: [{ expose: './api', export: 'f', change: 'new required parameter `b`' }],
    });

    const overridden = await change(before, after);
    await using _overridden = overridden.project;
    assert.ok(overridden.error, 'refused without the override');
    const built = await runFerry(['build', '--allow-breaking', 'no host calls f yet'], { cwd: overridden.project.dir });
    assert.equal(built.code, 0, built.stderr);
    assert.match(built.stdout, /\.\/api: 1 breaking \(f\)/);
    assert.match(built.stdout, /released with --allow-breaking \(no host calls f yet\)/);
    const contract = (await manifestOf(overridden.project)).ferry.contract;
    assert.equal(contract?.override, 'no host calls f yet');
    assert.equal(contract?.breaking[0]?.export, 'f');
  });

  test('without the TypeScript compiler API, names and kinds are still checked and the build says what it could not check', async () => {
    const project = await createTempProject({
      'package.json': pkg('1.0.0'),
      'ferry.config.json': config('api.ts'),
      'src/api.ts': 'export function f(a: string): string { return a; }\nexport function g(): void {}\n',
      // Makes @typescript/typescript6 unresolvable in the CLI's process, as on a machine without it.
      'no-typescript.mjs':
        "import { registerHooks } from 'node:module';\n" +
        "registerHooks({ resolve(specifier, context, next) { if (specifier.startsWith('@typescript/')) throw new Error('not installed'); return next(specifier, context); } });\n",
    });
    await using _ = project;
    const env = { NODE_OPTIONS: `--import=${join(project.dir, 'no-typescript.mjs')}` };
    assert.equal((await runFerry(['build'], { cwd: project.dir, env })).code, 0);
    await project.write('src/api.ts', 'export function f(a: number): string { return String(a); }\n');
    await project.write('package.json', pkg('1.0.1'));
    const built = await runFerry(['build'], { cwd: project.dir, env });
    assert.equal(built.code, 1, built.stdout);
    assert.match(built.stderr, /\.\/api {2}g: removed/);
    // f's parameter changed type: only TypeScript can tell, and the message says it was not compared.
    assert.doesNotMatch(built.stderr, /\.\/api {2}f:/);
    await project.write(
      'src/api.ts',
      'export function f(a: number): string { return String(a); }\nexport function g(): void {}\n',
    );
    const names = await runFerry(['build'], { cwd: project.dir, env });
    assert.equal(names.code, 0, names.stderr);
    assert.match(names.stdout, /by export names and kinds only/);
    assert.match(
      names.stdout,
      /not checked: \.\/api: declarations changed, but TypeScript's compiler API is not installed/,
    );
    assert.match(names.stdout, /npm i -D @typescript\/typescript6/);
  });
});
