/**
 * A remote declares `express` a singleton; the host has express installed but does not list it in `shared`. The host
 * (a separate process, the built `ferry` package) warns FERRY_SINGLETON_NOT_SHARED naming the package and the fix,
 * and does not warn once it shares express (when the remote gets the host's instance).
 */
import assert from 'node:assert/strict';
import { symlink } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { buildRemote } from '../src/build/index.ts';
import { runProcess } from './helpers/build-fixture.ts';
import { type Loopback, startLoopback } from './helpers/loopback.ts';
import { createTempProject, REPO_ROOT, type TempProject } from './helpers/temp-project.ts';

const HOST = `import { createHost } from 'ferry';
import { createRequire } from 'node:module';
const warnings = [];
const host = createHost({
  name: 'userService',
  remotes: { shop: process.env.REMOTE_URL },
  shared: JSON.parse(process.env.HOST_SHARED),
  cache: { dir: process.env.CACHE_DIR },
  onWarning: (warning) => warnings.push(warning),
});
const remote = await host.import('shop/router');
const sameExpress = remote.express === createRequire(import.meta.url)('express');
console.log(JSON.stringify({ sameExpress, warnings: warnings.filter((w) => w.code !== 'FERRY_UNSIGNED_REMOTE') }));
await host.close();
`;

let remoteProject: TempProject;
let server: Loopback;
let hostProject: TempProject;

before(async () => {
  remoteProject = await createTempProject(
    {
      'package.json': JSON.stringify({ name: 'shop', version: '1.0.0', dependencies: { express: '^5.0.0' } }),
      'src/router.js': "const express = require('express');\nexports.express = express;\n",
      'ferry.config.json': JSON.stringify({
        name: 'shop',
        exposes: { './router': './src/router.js' },
        shared: { express: { singleton: true } },
        dts: false,
      }),
    },
    { link: ['express'] },
  );
  const { outDir } = await buildRemote({ root: remoteProject.dir });
  server = await startLoopback(outDir);
  hostProject = await createTempProject(
    { 'package.json': JSON.stringify({ name: 'user-service', type: 'module' }), 'host.mjs': HOST },
    { link: ['express'] },
  );
  await symlink(REPO_ROOT, hostProject.path('node_modules', 'ferry'), 'dir');
});
after(async () => {
  await server?.close();
  await remoteProject?.remove();
  await hostProject?.remove();
});

async function runHost(shared: Record<string, unknown>, cache: string) {
  const result = await runProcess(process.execPath, ['host.mjs'], {
    cwd: hostProject.dir,
    env: {
      ...process.env,
      REMOTE_URL: `shop@${server.url}mf-manifest.json`,
      HOST_SHARED: JSON.stringify(shared),
      CACHE_DIR: hostProject.path(cache),
    },
  });
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as {
    sameExpress: boolean;
    warnings: Array<{ code: string; message: string; remote?: string }>;
  };
}

test('a singleton the host has installed but does not share is a warning naming the package and the fix', async () => {
  const unshared = await runHost({}, 'cache-a');
  assert.equal(unshared.sameExpress, false, 'the remote got its own copy of express');
  assert.equal(unshared.warnings.length, 1, JSON.stringify(unshared.warnings));
  const [warning] = unshared.warnings;
  assert.equal(warning!.code, 'FERRY_SINGLETON_NOT_SHARED');
  assert.equal(warning!.remote, 'shop');
  assert.match(warning!.message, /Remote "shop" declares "express" a singleton/);
  assert.match(warning!.message, /express 5\.\d+\.\d+ installed/);
  assert.match(warning!.message, /Add "express" to the host's `shared`/);

  const shared = await runHost({ express: { singleton: true } }, 'cache-b');
  assert.equal(shared.sameExpress, true, 'the remote uses the host instance');
  assert.deepEqual(shared.warnings, []);
});
