/**
 * Config files as npm makes projects: a host's `ferry.config.ts` with `import` syntax in a package that says
 * `"type": "commonjs"` (what `npm init -y` writes) loads under `node --import ferry/register` and for `ferry types`;
 * a config file that exists but does not load is ERR_FERRY_CONFIG_LOAD, not "not found", for `ferry build`,
 * ferry/register and `ferry types`; `ferry types` takes the remotes of a host that calls `createHost()` itself from
 * `--remote` and `--key`. Every host runs in its own process.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, symlink } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { generateSigningKeys, MANIFEST_FILE } from '../src/manifest/index.ts';
import { createFerryServer, type FerryServer } from '../src/server/index.ts';
import { runFerry, runProcess } from './helpers/build-fixture.ts';
import { createTempProject, REPO_ROOT, type TempProject } from './helpers/temp-project.ts';

/** A host config with ESM and TypeScript syntax, importing a TypeScript file beside it. */
const HOST_CONFIG = `import { defineHost } from 'ferry';
import { remoteUrl } from './remote-url.ts';

const key: string = process.env.GREETER_KEY as string;
export const host = defineHost({
  name: 'web',
  remotes: { greeter: { url: remoteUrl, publicKey: key } },
  cache: { dir: '.ferry-cache' },
  live: { pollInterval: false, push: false },
});
`;

const APP = `const { greet } = require('greeter/greet');
console.log(greet('commonjs'));
`;

async function hostProject(files: Record<string, string>): Promise<TempProject> {
  const project = await createTempProject({
    // As \`npm init -y\` writes it (npm 11).
    'package.json': JSON.stringify({ name: 'web', version: '1.0.0', main: 'index.js', type: 'commonjs' }, null, 2),
    ...files,
  });
  await mkdir(project.path('node_modules'));
  await symlink(REPO_ROOT, project.path('node_modules', 'ferry'), 'dir');
  return project;
}

describe('a host in a "type": "commonjs" package', () => {
  let remote: TempProject;
  let server: FerryServer;
  let url: string;
  let publicKey: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    remote = await createTempProject({
      'package.json': JSON.stringify({ name: 'greeter', version: '1.0.0', type: 'commonjs' }),
      'ferry.config.ts':
        "import { defineRemote } from 'ferry/build';\nexport default defineRemote({ name: 'greeter', exposes: { './greet': './src/greet.ts' } });\n",
      'src/greet.ts': "export const greet = (name: string): string => 'hello, ' + name;\n",
    });
    await mkdir(remote.path('node_modules'));
    await symlink(REPO_ROOT, remote.path('node_modules', 'ferry'), 'dir');
    const keygen = await runFerry(['keygen', '--out', 'signing.pem'], { cwd: remote.dir });
    assert.equal(keygen.code, 0, keygen.stderr);
    publicKey = /Public key: (\S+)/.exec(keygen.stdout)![1]!;
    const built = await runFerry(['build', '--sign', 'signing.pem'], { cwd: remote.dir });
    assert.equal(built.code, 0, built.stderr);
    server = await createFerryServer({ dir: remote.path('dist', 'federation'), port: 0 });
    url = `${server.url}${MANIFEST_FILE}`;
    env = { ...process.env, GREETER_KEY: publicKey, NODE_NO_WARNINGS: '1' };
  });
  after(async () => {
    await server?.close();
    await remote?.remove();
  });

  test('node --import ferry/register loads its ferry.config.ts (import syntax, a .ts import beside it)', async () => {
    await using host = await hostProject({
      'ferry.config.ts': HOST_CONFIG,
      'remote-url.ts': `export const remoteUrl: string = ${JSON.stringify(url)};\n`,
      'index.js': APP,
    });
    const result = await runProcess(process.execPath, ['--import', 'ferry/register', 'index.js'], {
      cwd: host.dir,
      env,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'hello, commonjs\n');
  });

  test('ferry types loads the same config and writes the declarations', async () => {
    await using host = await hostProject({
      'ferry.config.ts': HOST_CONFIG,
      'remote-url.ts': `export const remoteUrl: string = ${JSON.stringify(url)};\n`,
    });
    const result = await runFerry(['types'], { cwd: host.dir, env });
    assert.equal(result.code, 0, result.stderr);
    assert.match(await readFile(host.path('ferry-types', 'greeter.greet.d.ts'), 'utf8'), /greet/);
  });

  test('ferry types --remote/--key needs no config: the remotes of a host that calls createHost() itself', async () => {
    await using host = await hostProject({
      'host.mts': `import { createHost } from 'ferry';\nexport const host = createHost({ name: 'web', remotes: {} });\n`,
    });
    const result = await runFerry(['types', '--remote', `greeter=${url}`, '--key', `greeter=${publicKey}`], {
      cwd: host.dir,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Wrote types of 1 remote module\(s\) into ferry-types/);
    const index = await readFile(host.path('ferry-types', 'index.d.ts'), 'utf8');
    assert.match(index, /'greeter\/greet': typeof import\('greeter\/greet'\)/);

    // The key is checked as a pinned key: another key refuses the manifest.
    const other = generateSigningKeys().publicKey;
    const refused = await runFerry(['types', '--remote', `greeter=${url}`, '--key', `greeter=${other}`], {
      cwd: host.dir,
    });
    assert.equal(refused.code, 1, refused.stdout);
    assert.match(refused.stderr, /remote "greeter".*\[ERR_FERRY_SIGNATURE\]/s);

    const stray = await runFerry(['types', '--remote', `greeter=${url}`, '--key', `billing=${publicKey}`], {
      cwd: host.dir,
    });
    assert.equal(stray.code, 1);
    assert.match(stray.stderr, /^ferry types: --key billing=… names no remote given with --remote \(given: greeter\)/);
    assert.match(stray.stderr, /\[ERR_FERRY_INVALID_OPTION\]/);

    const malformed = await runFerry(['types', '--remote', url], { cwd: host.dir });
    assert.equal(malformed.code, 1);
    assert.match(malformed.stderr, /is not alias=value\. Write --remote authService=https:/);
  });

  test('ferry types with neither a config nor --remote says how to give the remotes', async () => {
    await using host = await hostProject({});
    const result = await runFerry(['types'], { cwd: host.dir });
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /no host config in .*--remote authService=<manifest URL>.*\[ERR_FERRY_CONFIG_NOT_FOUND\]/s,
    );
  });
});

describe('a config file that exists but does not load is ERR_FERRY_CONFIG_LOAD', () => {
  const BROKEN = "import { defineHost } from 'ferry';\nexport const host = defineHost({ name: 'web', remotes: { \n";

  test('ferry build', async () => {
    await using project = await createTempProject({
      'package.json': JSON.stringify({ name: 'r', version: '1.0.0' }),
      'ferry.config.ts': "export default { name: 'r', exposes: { './a': './a.ts' } \n",
      'a.ts': 'export const a: number = 1;\n',
    });
    const result = await runFerry(['build'], { cwd: project.dir });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /Could not compile the config file ferry\.config\.ts/);
    assert.match(result.stderr, /\[ERR_FERRY_CONFIG_LOAD\]/);
    assert.deepEqual(
      (await readdir(project.dir)).filter((file) => file.endsWith('.mjs')),
      [],
    );
  });

  test('node --import ferry/register: one line with the file and the code, and the app does not start', async () => {
    await using host = await hostProject({ 'ferry.config.ts': BROKEN, 'index.js': "console.log('started');\n" });
    const result = await runProcess(process.execPath, ['--import', 'ferry/register', 'index.js'], {
      cwd: host.dir,
      env: { ...process.env, NODE_NO_WARNINGS: '1' },
    });
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /^ferry\/register: could not load .*ferry\.config\.ts: /);
    assert.match(result.stderr, /\[ERR_FERRY_CONFIG_LOAD\]\nThe app was not started\.\n$/);
  });

  test('ferry types', async () => {
    await using host = await hostProject({ 'ferry.config.ts': BROKEN });
    const result = await runFerry(['types'], { cwd: host.dir });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^ferry types: could not load .*ferry\.config\.ts/);
    assert.match(result.stderr, /\[ERR_FERRY_CONFIG_LOAD\]/);
  });
});
