/**
 * The fast path for declarations (src/build/isolated-declarations.ts): oxc-transform under TypeScript's
 * isolatedDeclarations rules, with relative imports resolved as TypeScript resolves them. What it packages must be
 * what the tsc path packages, up to formatting, and a host's tsc must accept it the same way; anything it cannot do
 * exactly sends the whole build to tsc.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { test } from 'node:test';
import { loadConfig, type ResolvedConfig } from '../src/build/config.ts';
import { isolatedExposeDeclarations, resolveDeclarationSource } from '../src/build/isolated-declarations.ts';
import { emitExposeTypes, emitTypesWithTsc, type TypesResult } from '../src/build/types.ts';
import { REMOTE_PLACEHOLDER } from '../src/build/types-bundle.ts';
import { runProcess } from './helpers/build-fixture.ts';
import { createTempProject, REPO_ROOT, type TempProject } from './helpers/temp-project.ts';

const TSC = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const DEMO = join(REPO_ROOT, 'examples', 'auth-service');

/**
 * A remote over several files: type-only imports with `.ts`, an extensionless import, a `.js` import of a `.ts`
 * source, a folder import of `index.ts`, `export *` and `export type` re-exports, an `import()` type, a default
 * export, and an import cycle (user.ts <-> role.ts through a type).
 */
const MULTI_FILE: Record<string, string> = {
  'package.json': JSON.stringify({ name: 'multi', version: '1.0.0', type: 'module' }),
  'ferry.config.ts': `export default {
  name: 'multiRemote',
  exposes: { './api': './src/api.ts', './shapes': './src/shapes.ts' },
};
`,
  'src/api.ts': `import type { User } from './user.ts';
import { Role } from './role';
import type { Model } from './models';
export * from './shapes.ts';
export { type Options } from './options.js';

/** Finds a user. */
export function findUser(id: string, role: Role = Role.Reader): User | undefined {
  return id === '' ? undefined : { id, role, name: 'someone' };
}
export const models: readonly Model[] = [];
export default findUser;
`,
  'src/user.ts': `import type { Role } from './role.ts';
export interface User {
  id: string;
  role: Role;
  name: string;
}
`,
  'src/role.ts': `import type { User } from './user.ts';
export enum Role {
  Reader = 'reader',
  Writer = 'writer',
}
export type Owner = Pick<User, 'id'>;
`,
  'src/models/index.ts': `export interface Model {
  name: string;
  owners: Array<import('../user.ts').User>;
}
`,
  'src/shapes.ts': `export type Shape = { kind: 'circle'; radius: number } | { kind: 'square'; side: number };
export function area(shape: Shape): number {
  return shape.kind === 'circle' ? Math.PI * shape.radius ** 2 : shape.side ** 2;
}
`,
  'src/options.ts': 'export interface Options {\n  verbose?: boolean;\n}\n',
};

/**
 * What the comparison ignores: oxc-transform indents with tabs and writes string literals with double quotes, tsc
 * indents with 4 spaces and keeps the source's quotes. So every run of whitespace becomes one space and `'` becomes
 * `"`; nothing else is changed (names, order, modifiers, comments and specifiers must match exactly).
 */
function normalise(text: string): string {
  return text.replaceAll("'", '"').replace(/\s+/g, ' ').trim();
}

function texts(result: TypesResult): Map<string, string> {
  return new Map(result.types.map((types) => [types.key, new TextDecoder().decode(types.code)]));
}

async function bothPaths(config: ResolvedConfig): Promise<{ fast: Map<string, string>; tsc: Map<string, string> }> {
  const isolated = await isolatedExposeDeclarations(config);
  assert.ok(isolated.ok, isolated.ok ? '' : `the fast path was refused: ${isolated.reason}`);
  const fast = await emitExposeTypes(config);
  const tsc = await emitTypesWithTsc(config);
  assert.deepEqual(fast.warnings, []);
  assert.deepEqual(tsc.warnings, []);
  return { fast: texts(fast), tsc: texts(tsc) };
}

function multiFileRemote(files: Record<string, string> = {}): Promise<TempProject> {
  return createTempProject({ ...MULTI_FILE, ...files }, { link: ['typescript'] });
}

test('a multi-file remote packages the same declarations on the fast path as with tsc, up to formatting', async () => {
  await using remote = await multiFileRemote();
  const config = await loadConfig({ root: remote.dir });
  const isolated = await isolatedExposeDeclarations(config);
  assert.ok(isolated.ok);
  assert.deepEqual([...isolated.files.keys()].sort(), [
    'src/api.d.ts',
    'src/models/index.d.ts',
    'src/options.d.ts',
    'src/role.d.ts',
    'src/shapes.d.ts',
    'src/user.d.ts',
  ]);
  assert.deepEqual(
    [...isolated.entries],
    [
      ['./api', 'src/api.d.ts'],
      ['./shapes', 'src/shapes.d.ts'],
    ],
  );
  const { fast, tsc } = await bothPaths(config);
  assert.deepEqual([...fast.keys()], ['./api', './shapes']);
  for (const [key, text] of fast) assert.equal(normalise(text), normalise(tsc.get(key)!), key);
  // Every relative import became an ambient name of the expose; none is left for a host to resolve.
  assert.doesNotMatch(fast.get('./api')!, /["']\.\.?\//);
  assert.match(fast.get('./api')!, /import\("__FERRY_REMOTE__\/__types\/api\/src\/user"\)\.User/);
});

test('the demo remote packages the same declarations on both paths, and a host tsc treats them the same way', async () => {
  const config = await loadConfig({ root: DEMO });
  const { fast, tsc } = await bothPaths(config);
  const [fastText, tscText] = [fast.get('./tokenValidator')!, tsc.get('./tokenValidator')!];
  assert.equal(normalise(fastText), normalise(tscText));

  await using host = await createTempProject(
    {
      'package.json': JSON.stringify({ name: 'user-service', type: 'module' }),
      'tsconfig.json': JSON.stringify({
        compilerOptions: { module: 'nodenext', target: 'es2023', strict: true, noEmit: true, types: ['node'] },
        include: ['src', 'ferry-types'],
      }),
      'src/good.ts': `import { TOKEN_ISSUER, type JwtUser, validateJwtToken } from 'authService/tokenValidator';
const result = await validateJwtToken('a.b.c');
const user: JwtUser | undefined = result.isValid ? result.user : undefined;
const why: string | undefined = result.isValid ? undefined : result.error;
const issuer: 'authService' = TOKEN_ISSUER;
export const used = [user, why, issuer];
`,
      'src/bad.ts': `import { validateJwtToken } from 'authService/tokenValidator';
const result = await validateJwtToken(42);
export const role: 'guest' = result.isValid ? result.user.role : 'guest';
`,
    },
    { link: ['@types/node'] },
  );
  const typecheck = async (text: string) => {
    await host.write('ferry-types/authService.tokenValidator.d.ts', text.replaceAll(REMOTE_PLACEHOLDER, 'authService'));
    const { code, stdout, stderr } = await runProcess(
      process.execPath,
      [TSC, '-p', 'tsconfig.json', '--pretty', 'false'],
      {
        cwd: host.dir,
      },
    );
    return { code, output: stdout + stderr };
  };
  const viaFast = await typecheck(fastText);
  assert.notEqual(viaFast.code, 0, viaFast.output);
  // good.ts passes; bad.ts fails at the wrong argument and at the role union, with the same messages either way.
  assert.deepEqual(
    [...viaFast.output.matchAll(/^(\S+\.ts\(\d+,\d+\)): error (TS\d+)/gm)].map((match) => `${match[1]} ${match[2]}`),
    ['src/bad.ts(2,39) TS2345', 'src/bad.ts(3,14) TS2322'],
  );
  const viaTsc = await typecheck(tscText);
  assert.equal(viaTsc.output, viaFast.output);
});

test('relative imports resolve as TypeScript resolves them with moduleResolution bundler', async () => {
  await using project = await createTempProject({
    'src/a.ts': '',
    'src/b.ts': '',
    'src/b.d.ts': '',
    'src/only-types.d.ts': '',
    'src/view.tsx': '',
    'src/esm.mts': '',
    'src/cjs.cts': '',
    'src/dir/index.ts': '',
    'src/pkg/package.json': '{"types": "./main.d.ts"}',
    'src/pkg/index.ts': '',
    'src/plain.js': '',
    'src/key.generated.ts': '',
  });
  const from = project.path('src', 'a.ts');
  const cache = new Map<string, Promise<boolean>>();
  const resolved = async (specifier: string) => {
    const file = await resolveDeclarationSource(from, specifier, cache);
    return file === undefined
      ? undefined
      : file
          .slice(project.dir.length + 1)
          .split('\\')
          .join('/');
  };
  assert.equal(await resolved('./b.ts'), 'src/b.ts');
  assert.equal(await resolved('./b'), 'src/b.ts', 'a .ts source before a .d.ts, as tsc');
  assert.equal(await resolved('./b.js'), 'src/b.ts');
  assert.equal(await resolved('./only-types'), 'src/only-types.d.ts');
  assert.equal(await resolved('./only-types.js'), 'src/only-types.d.ts');
  assert.equal(await resolved('./view'), 'src/view.tsx');
  assert.equal(await resolved('./view.jsx'), 'src/view.tsx');
  assert.equal(await resolved('./esm.mjs'), 'src/esm.mts');
  assert.equal(await resolved('./esm.mts'), 'src/esm.mts');
  assert.equal(await resolved('./cjs.cjs'), 'src/cjs.cts');
  assert.equal(await resolved('./esm'), undefined, 'an extensionless import does not find .mts (nor does tsc)');
  assert.equal(await resolved('./dir'), 'src/dir/index.ts');
  assert.equal(await resolved('./dir/'), 'src/dir/index.ts');
  assert.equal(await resolved('../src/dir/index.js'), 'src/dir/index.ts');
  assert.equal(await resolved('./key.generated.ts'), 'src/key.generated.ts');
  assert.equal(await resolved('./key.generated'), 'src/key.generated.ts');
  assert.equal(await resolved('./pkg'), undefined, "a folder with a package.json is left to tsc's own resolution");
  assert.equal(await resolved('./plain.js'), undefined, 'a JavaScript file has no declarations without allowJs');
  assert.equal(await resolved('./missing'), undefined);
});

test('an existing .d.ts beside the sources is taken as it is, and followed', async () => {
  await using remote = await multiFileRemote({
    'src/options.ts': "export type { Options } from './legacy.js';\n",
    'src/legacy.d.ts': '/** Written by hand. */\nexport interface Options {\n  verbose?: boolean;\n}\n',
  });
  const isolated = await isolatedExposeDeclarations(await loadConfig({ root: remote.dir }));
  assert.ok(isolated.ok, isolated.ok ? '' : isolated.reason);
  assert.equal(
    isolated.files.get('src/legacy.d.ts'),
    '/** Written by hand. */\nexport interface Options {\n  verbose?: boolean;\n}\n',
  );
  const { types } = await emitExposeTypes(await loadConfig({ root: remote.dir }));
  assert.match(
    new TextDecoder().decode(types[0]!.code),
    /declare module "__FERRY_REMOTE__\/__types\/api\/src\/legacy"/,
  );
});

test('anything the fast path cannot do exactly sends the whole build to tsc, with the reason', async (t) => {
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    [
      'a reached file (not an expose) breaks the isolatedDeclarations rules',
      {
        'src/options.ts':
          'export interface Options {}\nexport function defaults(flag: boolean) {\n  return { flag };\n}\n',
      },
      /^src\/options\.ts: TS90\d\d: .*--isolatedDeclarations/,
    ],
    [
      'a relative import resolves to JavaScript only',
      { 'src/options.ts': "export type { Options } from './legacy.js';\n", 'src/legacy.js': 'export {};\n' },
      /^src\/options\.d\.ts imports \.\/legacy\.js, which resolves to no TypeScript or \.d\.ts file$/,
    ],
    [
      'an expose is JavaScript',
      {
        'ferry.config.ts': "export default { name: 'multiRemote', exposes: { './plain': './src/plain.js' } };\n",
        'src/plain.js': 'export const a = 1;\n',
      },
      /exposes\["\.\/plain"\] is not TypeScript/,
    ],
  ];
  for (const [name, files, reason] of cases) {
    await t.test(name, async () => {
      await using remote = await multiFileRemote(files);
      const result = await isolatedExposeDeclarations(await loadConfig({ root: remote.dir }));
      assert.equal(result.ok, false);
      assert.match(result.ok ? '' : result.reason, reason);
    });
  }
  await t.test('a relative import leaves the project', async () => {
    await using outside = await createTempProject({ 'outside.ts': 'export interface Options {}\n' });
    await using remote = await multiFileRemote();
    const specifier = relative(remote.path('src'), outside.path('outside.ts')).split(sep).join('/');
    await remote.write('src/options.ts', `export type { Options } from '${specifier}';\n`);
    const result = await isolatedExposeDeclarations(await loadConfig({ root: remote.dir }));
    assert.match(result.ok ? '' : result.reason, /outside\.ts is outside the project/);
  });
  // And the build still gets declarations, from tsc, when the remote has it.
  await using remote = await multiFileRemote(cases[0]![1]);
  const config = await loadConfig({ root: remote.dir });
  const viaBuild = await emitExposeTypes(config);
  const viaTsc = await emitTypesWithTsc(config);
  assert.deepEqual(texts(viaBuild), texts(viaTsc));
  assert.match(texts(viaBuild).get('./api')!, /defaults\(flag: boolean\): \{\s+flag: boolean;\s+\}/);
});

test('the fast path gives the same bytes on every run, and a change reaches only the exposes that import it', async () => {
  await using remote = await multiFileRemote();
  const config = await loadConfig({ root: remote.dir });
  const [first, second] = [await emitExposeTypes(config), await emitExposeTypes(config)];
  assert.deepEqual(
    first.types.map((types) => types.file),
    second.types.map((types) => types.file),
  );
  await writeFile(
    remote.path('src', 'options.ts'),
    'export interface Options {\n  verbose?: boolean;\n  quiet?: boolean;\n}\n',
  );
  const changed = await emitExposeTypes(config);
  assert.notEqual(changed.types[0]!.file, first.types[0]!.file);
  assert.equal(changed.types[1]!.file, first.types[1]!.file, 'shapes does not reach options.ts');
});
