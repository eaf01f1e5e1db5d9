/**
 * ferry installed the way a host service installs it: `npm pack` of this repository, installed into a fresh service
 * with `npm install --omit=optional`, which leaves out the build tools (esbuild, oxc-transform and the TypeScript
 * compiler API of the contract check are optional dependencies, and ferry has no other: semver, the one package its
 * runtime uses, is bundled into dist/ by scripts/build.ts, so nothing comes along). The service still loads
 * a signed remote, serves one and verifies one; `ferry build` there fails with a typed error that says how to
 * install esbuild.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { runFerry, runProcess } from './helpers/build-fixture.ts';
import { createTempProject, REPO_ROOT } from './helpers/temp-project.ts';

const HOST = `import { once } from 'node:events';
import { createServer } from 'node:http';
import { createHost } from 'ferry';
import { defineRemote } from 'ferry/build';
import { createRequestHandler } from 'ferry/server';

const handler = createRequestHandler({ dir: process.env.OUT });
const server = createServer(handler).listen(0, '127.0.0.1');
await once(server, 'listening');
const host = createHost({
  name: 'service',
  remotes: {
    greeter: { url: \`http://127.0.0.1:\${server.address().port}/mf-manifest.json\`, publicKey: process.env.KEY },
  },
  requireSignatures: true,
  cache: { dir: process.env.CACHE },
  live: { pollInterval: false, push: false },
});
const { greet } = await host.import('greeter/greet');
console.log(JSON.stringify({ greeting: greet('omit'), defineRemote: typeof defineRemote }));
await host.close();
handler.close();
server.close();
`;

test('a service installed with --omit=optional has no build tools, and loads, serves and verifies remotes', async () => {
  if (!existsSync(join(REPO_ROOT, 'dist', 'index.js'))) {
    assert.fail('dist/ is missing: run `npm run build` before this test (npm test does).');
  }
  await using remote = await createTempProject({
    'package.json': JSON.stringify({ name: 'greeter', version: '1.0.0', type: 'module' }),
    'ferry.config.json': JSON.stringify({ name: 'greeter', exposes: { './greet': './src/greet.ts' } }),
    'src/greet.ts': "export const greet = (name: string): string => 'hello, ' + name;\n",
  });
  const keygen = await runFerry(['keygen', '--out', 'signing.pem'], { cwd: remote.dir });
  assert.equal(keygen.code, 0, keygen.stderr);
  const publicKey = /Public key: (\S+)/.exec(keygen.stdout)?.[1];
  assert.ok(publicKey, keygen.stdout);
  const built = await runFerry(['build', '--sign', 'signing.pem'], { cwd: remote.dir });
  assert.equal(built.code, 0, built.stderr);
  const out = remote.path('dist', 'federation');

  await using service = await createTempProject({
    'package.json': JSON.stringify({ name: 'service', private: true, type: 'module' }),
    'host.mjs': HOST,
    // A TypeScript config: loading it is the build's first use of esbuild.
    'ferry.config.ts': "export default { name: 'service', version: '1.0.0', exposes: { './x': './x.ts' } };\n",
    'x.ts': 'export const x: number = 1;\n',
  });
  const packed = await runProcess('npm', ['pack', '--ignore-scripts', '--pack-destination', service.dir], {
    cwd: REPO_ROOT,
  });
  assert.equal(packed.code, 0, packed.stderr);
  const tarball = packed.stdout.trim().split('\n').at(-1)!;
  const flags = ['--omit=optional', '--ignore-scripts', '--no-audit', '--no-fund', '--no-package-lock'];
  const installed = await runProcess('npm', ['install', ...flags, `./${tarball}`], { cwd: service.dir });
  assert.equal(installed.code, 0, installed.stderr);

  const modules = service.path('node_modules');
  assert.ok(existsSync(join(modules, 'ferry', 'dist', 'index.js')), 'ferry is installed');
  for (const tool of [
    'semver',
    'esbuild',
    'oxc-transform',
    'es-module-lexer',
    'typescript',
    '@typescript/typescript6',
    '@typescript/old',
  ]) {
    assert.ok(!existsSync(join(modules, tool)), `${tool} is not installed`);
  }
  const manifest = JSON.parse(await readFile(join(modules, 'ferry', 'package.json'), 'utf8'));
  assert.deepEqual(Object.keys(manifest.optionalDependencies).sort(), [
    '@typescript/typescript6',
    'es-module-lexer',
    'esbuild',
    'oxc-transform',
  ]);

  const env = { ...process.env, OUT: out, KEY: publicKey, CACHE: service.path('.ferry-cache') };
  const host = await runProcess(process.execPath, ['host.mjs'], { cwd: service.dir, env });
  assert.equal(host.code, 0, host.stderr);
  assert.deepEqual(JSON.parse(host.stdout), { greeting: 'hello, omit', defineRemote: 'function' });

  const cli = join(modules, 'ferry', 'bin', 'ferry.js');
  const verify = await runProcess(process.execPath, [cli, 'verify', out, '--key', publicKey], { cwd: service.dir });
  assert.equal(verify.code, 0, `${verify.stdout}${verify.stderr}`);

  const build = await runProcess(process.execPath, [cli, 'build'], { cwd: service.dir });
  assert.equal(build.code, 1, `${build.stdout}${build.stderr}`);
  assert.match(build.stderr, /needs esbuild, which is not installed here/);
  assert.match(build.stderr, /npm install --save-dev esbuild/);
  assert.match(build.stderr, /\[ERR_FERRY_BUILD\]/);
  assert.ok(!existsSync(service.path('dist')), 'the failed build wrote nothing');
});
