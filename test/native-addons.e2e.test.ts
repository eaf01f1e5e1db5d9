/**
 * Remotes whose code uses a package with a native addon, with the real `bcrypt` 6.0.0 from the registry (it ships
 * prebuilt binaries for linux-x64 in its npm package, loaded by node-gyp-build). `ferry build` refuses to bundle it
 * unless it is shared; shared, the remote brings no copy of it and a host in its own process provides its installed
 * build; a host that does not provide it, or whose copy does not load, gets ERR_FERRY_SHARED_UNAVAILABLE.
 */
import assert from 'node:assert/strict';
import { cp, mkdir, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MANIFEST_FILE } from '../src/manifest/index.ts';
import { createFerryServer, type FerryServer } from '../src/server/index.ts';
import { runFerry, runProcess } from './helpers/build-fixture.ts';
import { linkNpmPackage, npmPackage } from './helpers/npm-packages.ts';
import { createTempProject, REPO_ROOT, type TempProject } from './helpers/temp-project.ts';

const BCRYPT = '6.0.0';

const SOURCES = {
  'package.json': JSON.stringify({ name: 'accounts', version: '1.0.0', dependencies: { bcrypt: `^${BCRYPT}` } }),
  'src/password.ts': [
    "import bcrypt from 'bcrypt';",
    '',
    'export function hash(password: string): string {',
    '  return bcrypt.hashSync(password, 4);',
    '}',
    'export function check(password: string, hashed: string): boolean {',
    '  return bcrypt.compareSync(password, hashed);',
    '}',
    '',
  ].join('\n'),
};

const config = (shared: string) =>
  `export default { name: 'accounts', exposes: { './password': './src/password.ts' }${shared} };\n`;

async function remoteProject(shared: string): Promise<TempProject> {
  const project = await createTempProject({ ...SOURCES, 'ferry.config.ts': config(shared) });
  await linkNpmPackage(project.dir, 'bcrypt', BCRYPT);
  return project;
}

/** The host, in its own process: imports the expose, prints what it got or the error's code and message. */
const HOST = `import { createHost } from 'ferry';
const host = createHost({
  name: 'web',
  remotes: { accounts: { url: process.env.REMOTE_URL } },
  shared: JSON.parse(process.env.SHARED),
  cache: { dir: process.env.CACHE },
  live: { pollInterval: false, push: false },
  onWarning: () => {},
});
try {
  const { hash, check } = await host.import('accounts/password');
  const hashed = hash('hunter2');
  console.log(JSON.stringify({ prefix: hashed.slice(0, 4), right: check('hunter2', hashed), wrong: check('x', hashed) }));
} catch (error) {
  console.log(JSON.stringify({ code: error.code, message: error.message, cause: String(error.cause?.message) }));
} finally {
  await host.close();
}
`;

async function hostProject(): Promise<TempProject> {
  const project = await createTempProject({
    'package.json': JSON.stringify({ name: 'web', type: 'module' }),
    'host.mjs': HOST,
  });
  await mkdir(project.path('node_modules'));
  await symlink(REPO_ROOT, project.path('node_modules', 'ferry'), 'dir');
  return project;
}

async function runHost(project: TempProject, url: string, shared: object): Promise<Record<string, unknown>> {
  const env = {
    ...process.env,
    REMOTE_URL: url,
    SHARED: JSON.stringify(shared),
    CACHE: project.path('.ferry-cache'),
    NODE_NO_WARNINGS: '1',
  };
  const result = await runProcess(process.execPath, ['host.mjs'], { cwd: project.dir, env });
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

test('ferry build refuses a native package an expose imports, naming it, why, who imports it and the fix', async () => {
  await using remote = await remoteProject('');
  const result = await runFerry(['build'], { cwd: remote.dir });
  assert.equal(result.code, 1, result.stdout);
  assert.match(result.stderr, /Remote "accounts" cannot bundle native addons/);
  assert.match(result.stderr, /bcrypt: its package\.json depends on node-gyp-build, which loads a native binary/);
  assert.match(result.stderr, /imported by src\/password\.ts/);
  assert.match(result.stderr, /shared: \{ 'bcrypt': \{\} \}/);
  assert.match(result.stderr, /every host's `shared`/);
  assert.match(result.stderr, /\[ERR_FERRY_NATIVE_PACKAGE\]/);
  await assert.rejects(readdir(remote.path('dist')), { code: 'ENOENT' });
});

test('a .node file imported directly is refused too', async () => {
  await using remote = await createTempProject({
    ...SOURCES,
    'ferry.config.ts': config(''),
    'src/password.ts': "import addon from '../build/Release/addon.node';\nexport const a: unknown = addon;\n",
    'build/Release/addon.node': 'not really a binary',
  });
  const result = await runFerry(['build'], { cwd: remote.dir });
  assert.equal(result.code, 1, result.stdout);
  assert.match(result.stderr, /it imports the binary \.\.\/build\/Release\/addon\.node/);
  assert.match(result.stderr, /\[ERR_FERRY_NATIVE_PACKAGE\]/);
});

describe('bcrypt declared shared', () => {
  let remote: TempProject;
  let server: FerryServer;
  let url: string;

  before(async () => {
    remote = await remoteProject(', shared: { bcrypt: {} }');
    const result = await runFerry(['build'], { cwd: remote.dir });
    assert.equal(result.code, 0, result.stderr);
    server = await createFerryServer({ dir: remote.path('dist', 'federation'), port: 0 });
    url = `${server.url}${MANIFEST_FILE}`;
  });
  after(async () => {
    await server?.close();
    await remote?.remove();
  });

  test('the build brings no copy of it: the manifest says no fallback, and no file carries bcrypt', async () => {
    const out = remote.path('dist', 'federation');
    const manifest = JSON.parse(await readFile(join(out, MANIFEST_FILE), 'utf8'));
    assert.equal(manifest.ferry.shared.bcrypt.fallback, false);
    assert.equal(manifest.ferry.shared.bcrypt.version, BCRYPT);
    assert.deepEqual(manifest.ferry.exposes['./password'].shared, ['bcrypt']);
    const files = await readdir(out);
    assert.deepEqual(
      files.filter((file) => file.startsWith('shared-')),
      [],
    );
    // The bundle imports bcrypt from the share scope (the host's copy) and carries none of it.
    const bundle = await readFile(join(out, manifest.ferry.exposes['./password'].file), 'utf8');
    assert.match(bundle, /__ferryImport\("bcrypt"\)/);
    assert.doesNotMatch(bundle, /\.node\b|node-gyp-build|bcrypt_lib/);
  });

  test('a host that installs and shares bcrypt runs the remote code on its own native build', async () => {
    await using host = await hostProject();
    await linkNpmPackage(host.dir, 'bcrypt', BCRYPT);
    assert.deepEqual(await runHost(host, url, { bcrypt: {} }), { prefix: '$2b$', right: true, wrong: false });
  });

  test('a host that does not provide bcrypt gets ERR_FERRY_SHARED_UNAVAILABLE naming it', async () => {
    await using host = await hostProject();
    const result = await runHost(host, url, {});
    assert.equal(result.code, 'ERR_FERRY_SHARED_UNAVAILABLE', JSON.stringify(result));
    assert.match(String(result.message), /"bcrypt"/);
    assert.match(String(result.message), /declare it in the host's `shared` option/);
  });

  test("a host whose bcrypt has no native build gets ERR_FERRY_SHARED_UNAVAILABLE with the package's error as cause", async () => {
    await using host = await hostProject();
    // A real copy of bcrypt without its prebuilt binaries: what an install for another platform leaves.
    const installed = await npmPackage('bcrypt', BCRYPT);
    await cp(installed, host.path('node_modules', 'bcrypt'), { recursive: true });
    await rm(host.path('node_modules', 'bcrypt', 'prebuilds'), { recursive: true });
    await symlink(join(installed, '..', 'node-gyp-build'), host.path('node_modules', 'node-gyp-build'), 'dir');
    const result = await runHost(host, url, { bcrypt: {} });
    assert.equal(result.code, 'ERR_FERRY_SHARED_UNAVAILABLE', JSON.stringify(result));
    assert.match(String(result.message), /The host "web" provides "bcrypt" 6\.0\.0 .*require\("bcrypt"\) failed/);
    assert.match(String(result.message), /npm rebuild bcrypt/);
    assert.match(String(result.cause), /No native build was found/);
  });
});
