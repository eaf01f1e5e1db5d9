/**
 * `node --import ferry/register`: plain `require` and `import` of remote modules in apps that contain no ferry call,
 * against the demo auth service (built into a temporary folder and served on a loopback port).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import jwt from 'jsonwebtoken';
import {
  AUTH_SERVICE_ROOT,
  FERRY_PUBLIC_KEY_FILE,
  FERRY_SIGNING_KEY_FILE,
  JWT_PRIVATE_KEY_FILE,
  prepareKeys,
} from '../examples/auth-service/prepare.ts';
import { buildRemote } from '../src/build/index.ts';
import { createFerryServer, type FerryServer } from '../src/server/index.ts';
import { createTempProject, REPO_ROOT, type TempProject } from './helpers/temp-project.ts';

const CONFIG = `export const host = {
  name: 'userService',
  remotes: {
    authServiceRemote: { name: 'authService', url: process.env.AUTH_URL, publicKey: process.env.AUTH_KEY },
  },
  shared: { jsonwebtoken: { singleton: true } },
  onStartupFailure: process.env.ON_FAILURE ?? 'exit',
  ...(process.env.BREAKER ? { breaker: JSON.parse(process.env.BREAKER) } : {}),
};
`;

/** The article's middleware and route, shared by the three app variants. */
const APP_BODY = `
app.use(async (req, res, next) => {
  const authHeader = req.headers.authorization;
  if (!authHeader) return res.status(401).json({ error: 'No authorization header' });
  const token = authHeader.split(' ')[1];
  if (!token) return res.status(401).json({ error: 'Token not provided' });
  const { isValid, user, error } = await validateJwtToken(token);
  if (!isValid) return res.status(403).json({ error: 'Invalid token: ' + error });
  req.user = user;
  next();
});
app.get('/profile', (req, res) => {
  res.json({ message: 'Welcome ' + req.user.username + '! This is your profile.', user: req.user, local: helper() });
});
const server = app.listen(0, '127.0.0.1', () => console.log('listening on http://127.0.0.1:' + server.address().port));
process.on('SIGTERM', () => server.close());
`;

const VARIANTS: Record<string, { type: string; entry: string; files: Record<string, string> }> = {
  commonjs: {
    type: 'commonjs',
    entry: 'src/index.js',
    files: {
      'src/helper.js': "module.exports = () => 'relative require works';\n",
      'src/index.js': `const express = require('express');
const { validateJwtToken } = require('authServiceRemote/tokenValidator');
const helper = require('./helper.js');
const app = express();
${APP_BODY}`,
    },
  },
  esm: {
    type: 'module',
    entry: 'src/index.js',
    files: {
      'src/helper.js': "export default () => 'relative import works';\n",
      'src/index.js': `import express from 'express';
import { validateJwtToken } from 'authServiceRemote/tokenValidator';
import * as remote from 'authServiceRemote/tokenValidator';
import helper from './helper.js';
import { host } from 'ferry/register';
const viaHost = await host.live('authServiceRemote/tokenValidator');
if (viaHost.validateJwtToken !== validateJwtToken || remote.validateJwtToken !== validateJwtToken) {
  throw new Error('not the same module instance');
}
const app = express();
${APP_BODY}`,
    },
  },
  typescript: {
    type: 'module',
    entry: 'src/index.ts',
    files: {
      'src/helper.ts': "export default (): string => 'relative import works';\n",
      'src/index.ts': `import express from 'express';
import { validateJwtToken } from 'authServiceRemote/tokenValidator';
import helper from './helper.ts';
const app: ReturnType<typeof express> = express();
${APP_BODY.replace('(req, res, next)', '(req: any, res: any, next: any)').replace('(req, res)', '(req: any, res: any)')}`,
    },
  },
};

interface Started {
  url?: string;
  code: Promise<number | null>;
  output: () => string;
  stop: () => void;
}

function startApp(project: TempProject, entry: string, env: Record<string, string>): Promise<Started> {
  const child = spawn(process.execPath, ['--import', 'ferry/register', entry], {
    cwd: project.dir,
    env: { ...process.env, ...env },
  });
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr.on('data', (chunk) => {
    output += chunk;
  });
  const code = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const started: Started = { code, output: () => output, stop: () => child.kill('SIGTERM') };
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(started), 20_000);
    child.stdout.on('data', () => {
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ ...started, url: match[1]! });
      }
    });
    void code.then(() => {
      clearTimeout(timer);
      resolve(started);
    });
  });
}

async function hostProject(files: Record<string, string>, type: string): Promise<TempProject> {
  const project = await createTempProject(
    { 'package.json': JSON.stringify({ name: 'user-service', type }), 'ferry.config.mjs': CONFIG, ...files },
    { link: ['express', 'jsonwebtoken'] },
  );
  await symlink(REPO_ROOT, project.path('node_modules', 'ferry'), 'dir');
  return project;
}

describe('node --import ferry/register', () => {
  let outDir: string;
  let server: FerryServer;
  let env: Record<string, string>;
  let token: string;
  let foreignToken: string;

  before(async () => {
    await prepareKeys();
    outDir = await mkdtemp(join(tmpdir(), 'ferry-register-'));
    await buildRemote({ root: AUTH_SERVICE_ROOT, outDir, sign: FERRY_SIGNING_KEY_FILE });
    server = await createFerryServer({ dir: outDir, port: 0 });
    const publicKey = (await readFile(FERRY_PUBLIC_KEY_FILE, 'utf8')).trim();
    env = { AUTH_URL: `${server.url}mf-manifest.json`, AUTH_KEY: publicKey, NODE_NO_WARNINGS: '1' };
    const claims = { sub: 'u1', username: 'alice', role: 'user' };
    token = jwt.sign(claims, await readFile(JWT_PRIVATE_KEY_FILE, 'utf8'), {
      algorithm: 'ES256',
      issuer: 'authService',
      expiresIn: '1h',
    });
    foreignToken = jwt.sign(claims, 'not-the-key', { algorithm: 'HS256', issuer: 'authService' });
  });
  after(async () => {
    await server?.close();
    await rm(outDir, { recursive: true, force: true });
  });

  for (const [name, variant] of Object.entries(VARIANTS)) {
    test(`a ${name} express host with no ferry call answers 200/401/401/403`, async () => {
      const project = await hostProject(variant.files, variant.type);
      const app = await startApp(project, variant.entry, env);
      try {
        assert.ok(app.url, `the app did not start:\n${app.output()}`);
        const get = async (authorization?: string) => {
          const response = await fetch(`${app.url}/profile`, authorization ? { headers: { authorization } } : {});
          return { status: response.status, body: (await response.json()) as Record<string, unknown> };
        };
        const ok = await get(`Bearer ${token}`);
        assert.equal(ok.status, 200);
        assert.equal(ok.body.message, 'Welcome alice! This is your profile.');
        assert.match(String(ok.body.local), /relative (require|import) works/);
        assert.deepEqual(await get(), { status: 401, body: { error: 'No authorization header' } });
        assert.deepEqual(await get('Bearer'), { status: 401, body: { error: 'Token not provided' } });
        const bad = await get(`Bearer ${foreignToken}`);
        assert.equal(bad.status, 403);
        assert.match(String(bad.body.error), /^Invalid token: invalid algorithm/);
      } finally {
        app.stop();
        await app.code;
        await project.remove();
      }
    });
  }

  test('a remote that cannot be loaded stops the app with one clear message, or is deferred when configured', async () => {
    const project = await hostProject(
      {
        'app.cjs': `try { require('authServiceRemote/tokenValidator'); } catch (error) { console.log('deferred ' + error.code); }
console.log('listening on http://x');`,
      },
      'commonjs',
    );
    try {
      const downEnv = { ...env, AUTH_URL: 'http://127.0.0.1:9/mf-manifest.json' };
      const stopped = await startApp(project, 'app.cjs', downEnv);
      assert.equal(await stopped.code, 1);
      assert.match(stopped.output(), /remote "authServiceRemote".*127\.0\.0\.1:9.*ERR_FERRY_NETWORK/s);
      assert.doesNotMatch(stopped.output(), /listening/);
      const deferred = await startApp(project, 'app.cjs', { ...downEnv, ON_FAILURE: 'defer' });
      assert.equal(await deferred.code, 0);
      assert.match(deferred.output(), /deferred ERR_FERRY_NETWORK/);
    } finally {
      await project.remove();
    }
  });

  /**
   * Starts LATE_REMOTE_APP with the remote down (on a port free now), waits until the app printed `downUntil`, then
   * `downMs` more, starts the remote on that port and waits for the app's result. `sinceUp`: from the remote coming
   * up to the app's first working import; `attempts`: the background attempts register counted.
   */
  async function lateRemote(downUntil: RegExp, downMs: number, extraEnv: Record<string, string> = {}) {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const project = await hostProject({ 'app.mjs': LATE_REMOTE_APP }, 'module');
    let late: FerryServer | undefined;
    try {
      const app = spawn(process.execPath, ['--import', 'ferry/register', 'app.mjs'], {
        cwd: project.dir,
        env: {
          ...process.env,
          ...env,
          AUTH_URL: `http://127.0.0.1:${port}/mf-manifest.json`,
          ON_FAILURE: 'defer',
          ...extraEnv,
        },
      });
      let output = '';
      app.stdout.on('data', (chunk) => {
        output += chunk;
      });
      app.stderr.on('data', (chunk) => {
        output += chunk;
      });
      const exited = new Promise<number | null>((resolve) => app.on('exit', resolve));
      // Up once the app has seen it down (a fixed delay raced a slow start-up on a loaded machine).
      const deadline = Date.now() + 30_000;
      while (!downUntil.test(output)) {
        assert.ok(Date.now() < deadline, `the app never printed ${downUntil}:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await new Promise((resolve) => setTimeout(resolve, downMs));
      const upAt = Date.now();
      late = await createFerryServer({ dir: outDir, port, host: '127.0.0.1' });
      assert.equal(await exited, 0, output);
      const result = JSON.parse(/^\{.*\}$/m.exec(output)?.[0] ?? '{}');
      assert.equal(result.ok, true, output);
      assert.ok(result.errors.includes('ERR_FERRY_NETWORK'), `imports failed while the remote was down:\n${output}`);
      assert.deepEqual(result.types, ['function', 'function']);
      assert.equal(result.badToken, false);
      assert.equal(result.afterWait, 'function', 'import() after whenLoaded() works at once');
      const attempts = Number(/remote "authServiceRemote" loaded after (\d+) background attempt/.exec(output)?.[1]);
      assert.ok(attempts >= 1, output);
      return { output, errors: result.errors as string[], sinceUp: result.at - upAt, attempts };
    } finally {
      await late?.close();
      await project.remove();
    }
  }

  test('defer: a remote that comes up after the app started is loaded in the background, and later imports get it', async () => {
    const { output, sinceUp, attempts } = await lateRemote(/import failed: ERR_FERRY_NETWORK/, 500);
    // The background attempts wait by the runtime's backoff: after n failed attempts, at random below min(30 s,
    // 2^(n-1) s); an attempt the open breaker refused waits for its probe (cooldown 5 s) plus below 1 s. So from the
    // remote coming up, the load follows within the larger of the two, plus the load itself (slack for a loaded
    // machine). The bound follows the attempts counted, so a slow start-up that kept the remote down longer is not a
    // failure; waiting out the 30 s ceiling after two failures is.
    const bound = Math.max(Math.min(30_000, 1000 * 2 ** (attempts - 1)), 6_000) + 5_000;
    assert.ok(sinceUp < bound, `loaded ${sinceUp} ms after the remote came up, after ${attempts} attempts:\n${output}`);
  });

  test('defer: an attempt the open circuit breaker refused is not counted; the next one waits for its probe', async () => {
    // One failure opens the breaker for 4 s: the start-up load opens it, the first background attempt (below 1 s) is
    // refused by it, and the remote is up long before the probe. The probe is the second attempt that calls the remote
    // and loads it: one counted attempt. Counting the refused one would grow the backoff (to below 2 s, then 4 s)
    // and count two or more.
    const { output, errors, attempts } = await lateRemote(/import failed: ERR_FERRY_CIRCUIT_OPEN/, 0, {
      BREAKER: JSON.stringify({ failureThreshold: 1, cooldown: 4000 }),
    });
    assert.ok(errors.includes('ERR_FERRY_CIRCUIT_OPEN'), output);
    assert.equal(attempts, 1, output);
  });
});

/** Imports the remote's module every 200 ms (dynamic import() and require()) until it works, then exits. */
const LATE_REMOTE_APP = `import { createRequire } from 'node:module';
import { whenLoaded } from 'ferry/register';
const require = createRequire(import.meta.url);
const started = Date.now();
// Code that waits instead: after whenLoaded, its first import() works.
const waited = whenLoaded('authServiceRemote').then(async () => {
  const { validateJwtToken } = await import('authServiceRemote/tokenValidator');
  return typeof validateJwtToken;
});
const errors = new Set();
for (;;) {
  try {
    const { validateJwtToken } = await import('authServiceRemote/tokenValidator');
    const viaRequire = require('authServiceRemote/tokenValidator');
    const badToken = (await validateJwtToken('not-a-token')).isValid;
    const types = [typeof validateJwtToken, typeof viaRequire.validateJwtToken];
    const afterWait = await waited;
    console.log(JSON.stringify({ ok: true, at: Date.now(), errors: [...errors], types, badToken, afterWait }));
    process.exit(0);
  } catch (error) {
    if (!errors.has(error.code)) console.log('import failed: ' + error.code);
    errors.add(error.code);
    if (Date.now() - started > 60_000) {
      console.log(JSON.stringify({ ok: false, errors: [...errors], last: String(error) }));
      process.exit(1);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
`;
