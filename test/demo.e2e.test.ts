/**
 * The demo end to end: the article's two services, built and run as real processes on loopback ports, answering
 * what the article's services answer — and starting when the auth service is down, which the article's could not.
 *
 * The auth service is built once, in place (examples/auth-service/dist, keys in .keys/); the tests in this file run
 * one after another, so no server reads that folder while start.ts rebuilds it.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import jwt from 'jsonwebtoken';
import {
  AUTH_SERVER,
  EXAMPLES,
  freePort,
  freshCacheDir,
  login,
  profile,
  removeCacheDirs,
  run,
  startService,
  stopAll,
  USER_SERVER,
} from './helpers/demo-services.ts';
import { REPO_ROOT } from './helpers/temp-project.ts';

before(async () => {
  await readFile(join(REPO_ROOT, 'dist', 'index.js')).catch(() => {
    throw new Error('dist/ is missing: run `npm run build` before this test (npm test does).');
  });
  const build = run(join(EXAMPLES, 'auth-service', 'build.ts'));
  assert.equal(await build.exited, 0, `the auth service build failed:\n${build.output()}`);
});

after(async () => {
  await stopAll();
  removeCacheDirs();
});

test('the article’s flow: log in at the auth service, use the token at the user service', async (t) => {
  t.after(stopAll);
  const auth = await startService(AUTH_SERVER, { AUTH_SERVICE_PORT: '0' });
  const user = await startService(USER_SERVER, { USER_SERVICE_PORT: '0', AUTH_SERVICE_URL: auth.url });

  assert.equal((await login(auth.url, 'alice', 'wrong')).status, 401);
  const response = await login(auth.url, 'alice', 'wonderland');
  assert.equal(response.status, 200);
  const { token } = (await response.json()) as { token: string };

  const ok = await profile(user.url, `Bearer ${token}`);
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.equal(ok.body.message, 'Welcome alice! This is your profile.');
  // jsonwebtoken is a shared singleton: the inspection shows the user service provided the one instance.
  const shared = (await (await fetch(`${user.url}/federation/shared`)).json()) as {
    default: { jsonwebtoken: { chosen: string[]; uses: Array<{ consumer: string; from: string }> } };
  };
  assert.equal(shared.default.jsonwebtoken.chosen.length, 1);
  assert.ok(
    shared.default.jsonwebtoken.uses.some((u) => u.consumer.includes('authService') && u.from === 'userService'),
    JSON.stringify(shared),
  );
  assert.deepEqual(ok.body.user && { sub: ok.body.user.sub, username: ok.body.user.username }, {
    sub: '1',
    username: 'alice',
  });

  assert.deepEqual(await profile(user.url), { status: 401, body: { error: 'No authorization header' } });
  assert.deepEqual(await profile(user.url, 'Bearer'), { status: 401, body: { error: 'Token not provided' } });
  assert.deepEqual(await profile(user.url, 'Bearer garbage'), {
    status: 403,
    body: { error: 'Invalid token: jwt malformed' },
  });
  const otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const forged = jwt.sign({ username: 'alice', role: 'admin' }, otherKey, {
    algorithm: 'ES256',
    issuer: 'authService',
    subject: '1',
  });
  assert.deepEqual(await profile(user.url, `Bearer ${forged}`), {
    status: 403,
    body: { error: 'Invalid token: invalid signature' },
  });

  // The auth service serves its own signed bundle, and the bundle carries no secret.
  const manifest = await fetch(`${auth.url}/mf-manifest.json`);
  assert.equal(manifest.status, 200);
  assert.equal(((await manifest.json()) as { name: string }).name, 'authService');
  assert.equal((await fetch(`${auth.url}/mf-manifest.json.sig`)).status, 200);
  const federationDir = join(EXAMPLES, 'auth-service', 'dist', 'federation');
  // Every file of the output, in its folders too (kept releases, assets): no secret in any of them.
  for (const entry of await readdir(federationDir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const text = await readFile(join(entry.parentPath, entry.name), 'utf8');
    assert.doesNotMatch(text, /PRIVATE KEY|wonderland|supersecretkey/, entry.name);
  }
});

test('the user service starts while the auth service is down, and recovers without a restart', async (t) => {
  t.after(stopAll);
  const authPort = await freePort();
  const authUrl = `http://127.0.0.1:${authPort}`;
  const user = await startService(USER_SERVER, { USER_SERVICE_PORT: '0', AUTH_SERVICE_URL: authUrl });

  const down = await profile(user.url, 'Bearer some-token');
  assert.equal(down.status, 503, JSON.stringify(down.body));
  assert.match(down.body.error ?? '', /^Auth service unavailable: /);
  assert.match(down.body.code ?? '', /^ERR_FERRY_/);
  assert.deepEqual(await profile(user.url), { status: 401, body: { error: 'No authorization header' } });

  const auth = await startService(AUTH_SERVER, { AUTH_SERVICE_PORT: String(authPort) });
  assert.equal(auth.url, authUrl);
  const { token } = (await (await login(authUrl, 'bob', 'builder')).json()) as { token: string };
  let last = await profile(user.url, `Bearer ${token}`);
  for (const deadline = Date.now() + 15_000; last.status !== 200 && Date.now() < deadline; ) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    last = await profile(user.url, `Bearer ${token}`);
  }
  assert.equal(last.status, 200, JSON.stringify(last.body));
  assert.equal(last.body.message, 'Welcome bob! This is your profile.');

  // Once loaded, the validator does not depend on the auth service being up.
  auth.child.kill('SIGKILL');
  await auth.exited;
  assert.equal((await profile(user.url, `Bearer ${token}`)).status, 200);
});

test('a user service restarted while the auth service is down answers from its cache', async (t) => {
  t.after(stopAll);
  const authPort = await freePort();
  const authUrl = `http://127.0.0.1:${authPort}`;
  const env = { USER_SERVICE_PORT: '0', AUTH_SERVICE_URL: authUrl, FERRY_CACHE_DIR: freshCacheDir() };
  const auth = await startService(AUTH_SERVER, { AUTH_SERVICE_PORT: String(authPort) });
  const first = await startService(USER_SERVER, env);
  await first.waitFor(/loaded authService\/tokenValidator from http/);
  const { token } = (await (await login(authUrl, 'alice', 'wonderland')).json()) as { token: string };
  assert.equal((await profile(first.url, `Bearer ${token}`)).status, 200);

  auth.child.kill('SIGKILL');
  await auth.exited;
  first.child.kill('SIGTERM');
  await first.exited;

  const second = await startService(USER_SERVER, env);
  await second.waitFor(/loaded authService\/tokenValidator from the cache/);
  const ok = await profile(second.url, `Bearer ${token}`);
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.equal(ok.body.message, 'Welcome alice! This is your profile.');
  assert.deepEqual(await profile(second.url), { status: 401, body: { error: 'No authorization header' } });
  assert.deepEqual(await profile(second.url, 'Bearer garbage'), {
    status: 403,
    body: { error: 'Invalid token: jwt malformed' },
  });
  // It says so: one line with the age of the copy, and the inspection route.
  const lines = second
    .output()
    .split('\n')
    .filter((line) => line.includes('FERRY_STALE_CACHE'));
  assert.equal(lines.length, 1, second.output());
  assert.match(lines[0]!, /serving version \S+ from the host's cache, verified when the remote last served it .+ ago/);
  const remotes = (await (await fetch(`${second.url}/federation/remotes`)).json()) as {
    authService: { source: string; staleForMs: number };
  };
  assert.equal(remotes.authService.source, 'cache');
  assert.ok(remotes.authService.staleForMs >= 0);
});

test('npm start: builds, starts both services, prints how to try them, and stops both on Ctrl-C', async (t) => {
  const pids: number[] = [];
  t.after(async () => {
    await stopAll();
    for (const pid of pids) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
  });
  const start = run(join(EXAMPLES, 'start.ts'), { AUTH_SERVICE_PORT: '0', USER_SERVICE_PORT: '0' });
  await start.waitFor(/Press Ctrl-C to stop both services/, 60_000);
  pids.push(...[...start.output().matchAll(/started \(pid (\d+)\)/g)].map((match) => Number(match[1])));
  assert.equal(pids.length, 2, start.output());
  const [, userUrl] = /user-service listening on (\S+)/.exec(start.output())!;
  assert.equal((await profile(userUrl!)).status, 401);

  start.child.kill('SIGINT');
  assert.equal(await start.exited, 0, start.output());
  for (const pid of pids) assert.equal(isRunning(pid), false, `pid ${pid} still runs`);
});

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
