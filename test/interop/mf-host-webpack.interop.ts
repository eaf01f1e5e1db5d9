/**
 * The article's User Service — built with webpack 5 + @module-federation/node exactly as
 * bench/variants/webpack/host configures it (UniversalFederationPlugin, `externals: [nodeExternals()]`) — against
 * ferry's Auth Service (examples/auth-service: its validator built with `ferry build`, served by its own server with
 * `POST /login`). The User Service's remote points at the ferry service's remoteEntry.js; it answers the article's
 * 401 / 401 / 403 / 200.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { prepareKeys } from '../../examples/auth-service/prepare.ts';
import { runFerry } from '../helpers/build-fixture.ts';
import {
  AUTH_SERVER,
  EXAMPLES,
  login,
  profile,
  removeCacheDirs,
  run,
  startService,
  stopAll,
} from '../helpers/demo-services.ts';
import { createTempProject, REPO_ROOT, type TempProject } from '../helpers/temp-project.ts';

const WEBPACK_HOST = join(REPO_ROOT, 'bench', 'variants', 'webpack', 'host');
/** What the built User Service needs at build and run time, linked from ferry's own devDependencies. */
const HOST_PACKAGES = ['webpack', 'webpack-node-externals', '@module-federation', 'express', 'jsonwebtoken', 'dotenv'];

const BUILD_SCRIPT = `const webpack = require('webpack');
webpack(require('./webpack.config.js'), (error, stats) => {
  if (error || stats.hasErrors()) {
    console.error(error ?? stats.toString('errors-only'));
    process.exit(1);
  }
  console.log('built in ' + (stats.endTime - stats.startTime) + ' ms');
});
`;

let federationDir: string;
let host: TempProject;
let authUrl: string;

before(async () => {
  // The Auth Service: the demo's validator, built with the ferry CLI into a folder of this test.
  await prepareKeys();
  federationDir = await mkdtemp(join(tmpdir(), 'ferry-mf-auth-'));
  const build = await runFerry(['build', '--out', federationDir], { cwd: join(EXAMPLES, 'auth-service') });
  assert.equal(build.code, 0, build.stderr);
  authUrl = (await startService(AUTH_SERVER, { AUTH_SERVICE_PORT: '0', AUTH_FEDERATION_DIR: federationDir })).url;

  // The User Service: the article's sources and webpack config, built with the webpack API in a folder of its own.
  host = await createTempProject({ 'build.cjs': BUILD_SCRIPT }, { link: HOST_PACKAGES });
  for (const file of ['package.json', 'webpack.config.js', 'src/index.js']) {
    await cp(join(WEBPACK_HOST, file), host.path(file));
  }
  const webpack = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ['build.cjs'], {
      cwd: host.dir,
      env: { ...process.env, AUTH_REMOTE_URL: `${authUrl}/remoteEntry.js` },
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
  assert.equal(webpack.code, 0, webpack.output);
});

after(async () => {
  await stopAll();
  removeCacheDirs();
  await host?.remove();
  if (federationDir) await rm(federationDir, { recursive: true, force: true });
});

test("the article's webpack-built User Service against the ferry Auth Service answers 401 / 401 / 403 / 200", async () => {
  const userService = run(host.path('dist', 'main.js'), { PORT: '0' });
  const [, userUrl] = await userService.waitFor(/user-service listening on (http:\/\/[\d.]+:\d+)/);

  const none = await profile(userUrl!);
  assert.deepEqual(none, { status: 401, body: { error: 'No authorization header' } });
  const empty = await profile(userUrl!, 'Bearer');
  assert.deepEqual(empty, { status: 401, body: { error: 'Token not provided' } });
  const forged = await profile(userUrl!, 'Bearer not.a.token');
  assert.equal(forged.status, 403);
  assert.match(forged.body.error ?? '', /^Invalid token: /);

  const { token } = (await (await login(authUrl, 'alice', 'wonderland')).json()) as { token: string };
  const ok = await profile(userUrl!, `Bearer ${token}`);
  assert.equal(ok.status, 200, JSON.stringify(ok.body) + userService.output());
  assert.equal(ok.body.message, 'Welcome alice! This is your profile.');
  assert.equal(ok.body.user?.username, 'alice');
  assert.equal(ok.body.user?.role, 'admin');
});
