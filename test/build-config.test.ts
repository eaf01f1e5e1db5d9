/** Loading and validating ferry.config.* through the real CLI: every format loads, every bad input is named. */
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { MANIFEST_FILE, parseManifest } from '../src/manifest/index.ts';
import { createRemoteProject, runFerry } from './helpers/build-fixture.ts';
import { REPO_ROOT } from './helpers/temp-project.ts';

const OUT = join('dist', 'federation');
const EXPOSES = "{ './other': './src/other.ts' }";

async function builtName(dir: string): Promise<string> {
  const file = join(dir, OUT, MANIFEST_FILE);
  return parseManifest(await readFile(file), file).name;
}

const formats: Array<{ title: string; files: Record<string, string> }> = [
  {
    title: '.ts with defineRemote from ferry/build and a relative import',
    files: {
      'ferry.config.ts': [
        "import { defineRemote } from 'ferry/build';",
        "import { remoteName } from './config/name.ts';",
        `export default defineRemote({ name: remoteName, exposes: ${EXPOSES} });`,
      ].join('\n'),
      'config/name.ts': "export const remoteName: string = 'fromTs';\n",
    },
  },
  {
    title: '.mts exporting an async function',
    files: { 'ferry.config.mts': `export default async () => ({ name: 'fromMts', exposes: ${EXPOSES} });\n` },
  },
  { title: '.mjs', files: { 'ferry.config.mjs': `export default { name: 'fromMjs', exposes: ${EXPOSES} };\n` } },
  {
    title: '.js as CommonJS (package.json without "type")',
    files: {
      'package.json': JSON.stringify({ name: 'x', version: '1.0.0', dependencies: { jsonwebtoken: '^9.0.0' } }),
      'ferry.config.js': `module.exports = { name: 'fromCjs', exposes: ${EXPOSES} };\n`,
    },
  },
  {
    title: '.json',
    files: { 'ferry.config.json': JSON.stringify({ name: 'fromJson', exposes: { './other': './src/other.ts' } }) },
  },
];

for (const { title, files } of formats) {
  test(`loads a config in ${title}`, async () => {
    await using project = await createRemoteProject(files);
    // Only the config under test, found by its name: the fixture's ferry.config.ts would be found first.
    if (files['ferry.config.ts'] === undefined) await rm(project.path('ferry.config.ts'));
    else {
      await mkdir(project.path('node_modules'), { recursive: true });
      await symlink(REPO_ROOT, project.path('node_modules', 'ferry'), 'dir');
    }
    const result = await runFerry(['build'], { cwd: project.dir });
    assert.equal(result.code, 0, result.stderr);
    assert.match(await builtName(project.dir), /^from/);
    const leftovers = (await readdir(project.dir)).filter((file) => file.endsWith('.mjs') && file.startsWith('.'));
    assert.deepEqual(leftovers, [], 'the temporary bundle of the config is removed');
  });
}

test('finds ferry.config.* in the project root without --config', async () => {
  await using project = await createRemoteProject();
  const result = await runFerry(['build'], { cwd: project.dir });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(await builtName(project.dir), 'authService');
});

const bad: Array<{ title: string; config: string; option: RegExp; code?: string; files?: Record<string, string> }> = [
  {
    title: 'an unknown option, with a did-you-mean hint',
    config: `{ name: 'a', expose: ${EXPOSES} }`,
    option: /expose is not a known option\. Did you mean "exposes"\?/,
  },
  {
    title: 'a Module Federation option ferry does not take',
    // `remotes` is taken now (remotes that use remotes); `shareStrategy` is still the host's to choose.
    config: `{ name: 'a', exposes: ${EXPOSES}, shareStrategy: 'loaded-first' }`,
    option: /shareStrategy is not a ferry option: .*createHost/,
  },
  {
    title: 'a remote that names itself in remotes',
    config: `{ name: 'a', exposes: ${EXPOSES}, remotes: { a: 'a@http://127.0.0.1:1/mf-manifest.json' } }`,
    option: /remotes\.a is this remote itself/,
  },
  {
    title: 'a remote with an URL that is not http(s)',
    config: `{ name: 'a', exposes: ${EXPOSES}, remotes: { b: { url: 'ftp://x/mf-manifest.json' } } }`,
    option: /remotes\.b\.url must be the http\(s\) URL of its mf-manifest\.json/,
  },
  {
    title: 'a misspelled shared option',
    config: `{ name: 'a', exposes: ${EXPOSES}, shared: { jsonwebtoken: { singelton: true } } }`,
    option: /shared\.jsonwebtoken\.singelton is not a known option\. Did you mean "singleton"\?/,
  },
  {
    title: 'a shared option of the wrong type',
    config: `{ name: 'a', exposes: ${EXPOSES}, shared: { jsonwebtoken: { singleton: 'yes' } } }`,
    option: /shared\.jsonwebtoken\.singleton must be true or false/,
  },
  {
    title: 'a baseline that is neither a URL, a folder nor false',
    config: `{ name: 'a', exposes: ${EXPOSES}, baseline: true }`,
    option: /baseline must be the URL the remote is served at .*or false, got true/,
  },
  { title: 'missing exposes', config: "{ name: 'a' }", option: /exposes is required/ },
  { title: 'empty exposes', config: "{ name: 'a', exposes: {} }", option: /exposes must be a non-empty object/ },
  {
    title: 'a bad expose key',
    config: "{ name: 'a', exposes: { other: './src/other.ts' } }",
    option: /exposes\["other"\] is not an expose key/,
  },
  {
    title: 'a missing expose file',
    config: "{ name: 'a', exposes: { './gone': './src/gone.ts' } }",
    option: /exposes\["\.\/gone"\] names \.\/src\/gone\.ts, but .*src\/gone\.ts does not exist/,
    code: 'ERR_FERRY_EXPOSE_NOT_FOUND',
  },
  {
    title: 'an invalid name',
    config: `{ name: 'auth-service', exposes: ${EXPOSES} }`,
    option: /name must be a JavaScript identifier/,
  },
  {
    title: 'an invalid version',
    config: `{ name: 'a', version: 'one', exposes: ${EXPOSES} }`,
    option: /version must be a semver version/,
  },
  {
    title: 'a shared package that is not installed',
    config: `{ name: 'a', exposes: ${EXPOSES}, shared: ['left-pad'] }`,
    option: /shared\.left-pad names left-pad, which is not installed.*npm install left-pad/,
  },
  {
    title: 'an invalid requiredVersion',
    config: `{ name: 'a', exposes: ${EXPOSES}, shared: { jsonwebtoken: { requiredVersion: 'nine' } } }`,
    option: /shared\.jsonwebtoken\.requiredVersion must be a semver range/,
  },
  {
    title: 'an outDir that contains the sources',
    config: `{ name: 'a', exposes: ${EXPOSES}, outDir: 'src' }`,
    option: /outDir is .*src, which contains the source/,
  },
  {
    title: 'an outDir equal to the project root',
    config: `{ name: 'a', exposes: ${EXPOSES}, outDir: '.' }`,
    option: /outDir is .*which is or contains the project root/,
  },
  {
    title: 'a bad expiresIn',
    config: `{ name: 'a', exposes: ${EXPOSES}, expiresIn: '3 years' }`,
    option: /expiresIn must be a positive number of seconds or a duration/,
  },
  {
    title: 'a bad release',
    config: `{ name: 'a', exposes: ${EXPOSES}, release: -1 }`,
    option: /release must be a positive whole number/,
  },
  {
    // Hosts never accept a lower release than one they saw: one that cannot be exceeded would lock them out.
    title: 'a release no later build could exceed',
    config: `{ name: 'a', exposes: ${EXPOSES}, release: Number.MAX_SAFE_INTEGER }`,
    option: /release is 9007199254740991, above the highest release ferry allows \(1000000000000000\)/,
  },
  {
    title: 'a signing key file that does not exist',
    config: `{ name: 'a', exposes: ${EXPOSES}, sign: './missing.pem' }`,
    option: /sign names the signing key .*missing\.pem, which cannot be read/,
  },
  {
    title: 'a default export that is not an object',
    config: "'nope'",
    option: /the default export must be an object/,
  },
];

for (const { title, config, option, code = 'ERR_FERRY_INVALID_OPTION' } of bad) {
  test(`rejects ${title}, naming the option, and writes nothing`, async () => {
    await using project = await createRemoteProject({ 'ferry.config.ts': `export default ${config};\n` });
    const result = await runFerry(['build'], { cwd: project.dir });
    assert.equal(result.code, 1, result.stdout);
    assert.match(result.stderr, /^ferry build: ferry\.config\.ts: /);
    assert.match(result.stderr, option);
    assert.ok(result.stderr.includes(`[${code}]`), result.stderr);
    await assert.rejects(readdir(project.path('dist')), { code: 'ENOENT' });
  });
}

test('without a config file the error lists the names looked for', async () => {
  await using project = await createRemoteProject();
  await rm(project.path('ferry.config.ts'));
  const result = await runFerry(['build'], { cwd: project.dir });
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    /ferry\.config\.ts, ferry\.config\.mts, ferry\.config\.mjs, ferry\.config\.js, ferry\.config\.json/,
  );
  assert.match(result.stderr, /ERR_FERRY_CONFIG_NOT_FOUND/);
});

test('a config that throws while loading is reported with its message', async () => {
  await using project = await createRemoteProject({ 'ferry.config.ts': "throw new Error('no config today');\n" });
  const result = await runFerry(['build'], { cwd: project.dir });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /no config today/);
  assert.match(result.stderr, /\[ERR_FERRY_CONFIG_LOAD\]/);
  assert.deepEqual(
    (await readdir(project.dir)).filter((file) => file.endsWith('.mjs')),
    [],
    'the temporary bundle is removed even on failure',
  );
});

test('shared as a list, requiredVersion false, and an explicit version are recorded', async () => {
  await using project = await createRemoteProject({
    'ferry.config.ts': `export default {
      name: 'a', exposes: { './v': './src/tokenValidator.ts' }, release: 7, expiresIn: '12h',
      shared: { jsonwebtoken: { requiredVersion: false, strictVersion: true, shareScope: 'auth' }, ms: { version: '2.1.0', eager: true } },
    };\n`,
  });
  const result = await runFerry(['build'], { cwd: project.dir });
  assert.equal(result.code, 0, result.stderr);
  const file = project.path(OUT, MANIFEST_FILE);
  const manifest = parseManifest(await readFile(file), file);
  assert.equal(manifest.ferry.release, 7);
  assert.equal(Date.parse(manifest.ferry.expires) - Date.parse(manifest.ferry.builtAt), 12 * 3_600_000);
  assert.equal(manifest.ferry.shared.jsonwebtoken?.requiredVersion, false);
  assert.equal(manifest.ferry.shared.jsonwebtoken?.shareScope, 'auth');
  assert.equal(manifest.ferry.shared.jsonwebtoken?.strictVersion, true);
  assert.equal(manifest.ferry.shared.ms?.version, '2.1.0');
  assert.equal(manifest.ferry.shared.ms?.requiredVersion, '^2.1.0');
  assert.deepEqual(manifest.ferry.exposes['./v']?.shared, ['jsonwebtoken', 'ms']);
  const code = await readFile(project.path(OUT, manifest.ferry.exposes['./v']!.file), 'utf8');
  assert.match(code, /__ferryImport\(["']ms["']\)/, 'a shared package is left external');
});
