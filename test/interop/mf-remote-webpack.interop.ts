/**
 * A ferry host loads Module Federation remotes built by webpack 5: the article's Auth Service
 * (@module-federation/node's UniversalFederationPlugin, `commonjs-module`, nodeExternals()) by its `mf-manifest.json`
 * and by its `remoteEntry.js` URL, and the same remote built with @module-federation/enhanced (`async-node`, shared
 * packages bundled as fallbacks). Every byte is pinned by the host's lock file (`ferry lock`); real builds, real
 * loopback servers, the real CLI and real child processes. The builds run once, in `before`.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import {
  createHost,
  EvaluationError,
  type FerryWarning,
  type HostOptions,
  InvalidManifestError,
  LockError,
} from '../../src/index.ts';
import { emptyLock, readLock, writeLock } from '../../src/runtime/mf/lock-file.ts';
import { lockRemote } from '../../src/runtime/mf/lock-remote.ts';
import { resolveHostOptions } from '../../src/runtime/options/host-options.ts';
import { runFerry, runProcess } from '../helpers/build-fixture.ts';
import { startLoopback } from '../helpers/loopback.ts';
import {
  buildArticleRemote,
  buildEnhancedRemote,
  buildPlainWebpackRemote,
  createAuthProject,
} from '../helpers/mf-builds.ts';
import { REPO_ROOT, type TempProject } from '../helpers/temp-project.ts';

const require = createRequire(join(REPO_ROOT, 'package.json'));
const jwt = require('jsonwebtoken') as { sign(payload: object, secret: string, options?: object): string };

const CANARY = '__ferryMfCanaryRan';
/** A second validator, for the redeploy test: the same check, and it says which build answered. */
const VALIDATOR_V2 = `const jwt = require('jsonwebtoken');
async function validateJwtToken(token) {
  try {
    return { isValid: true, user: jwt.verify(token, process.env.JWT_SECRET || 'supersecretkey'), build: 2 };
  } catch (error) {
    return { isValid: false, error: error.message, build: 2 };
  }
}
module.exports = { validateJwtToken };
`;
/**
 * An expose whose module leaves an unhandled rejection behind: what @module-federation/node's httpVmStrategy did when
 * ferry 0.1 gave the container a ferry:// public path (http.get on a non-HTTP URL inside an async function, so
 * ERR_INVALID_PROTOCOL became an unhandled rejection that ended the host).
 */
const CRASHY = `async function loadChunk(url) {
  require('http').get(url);
}
loadChunk('ferry://authServiceRemote@1.0.0/__federation_expose_crashy.main.js');
module.exports = { loaded: true };
`;

let project: TempProject;
let article: string;
/** The article's build with content-hashed chunk names, and a redeploy of it (another validator). */
let articleV1: string;
let articleV2: string;
let enhanced: string;
let crashy: string;
/** webpack's own ModuleFederationPlugin: no mf-manifest.json. */
let plain: string;
/** The article's build exactly as written: no manifest. */
let articleNoManifest: string;
let work: string;

before(async () => {
  project = await createAuthProject({ 'src-v2/tokenValidator.js': VALIDATOR_V2, 'src/crashy.js': CRASHY });
  work = await mkdtemp(join(tmpdir(), 'ferry-mf-host-'));
  [article, articleV1, articleV2, enhanced, crashy, plain, articleNoManifest] = await Promise.all([
    buildArticleRemote(project, { out: 'dist/article' }),
    buildArticleRemote(project, { out: 'dist/article-v1', chunkFilename: '[name].[contenthash].js' }),
    buildArticleRemote(project, {
      out: 'dist/article-v2',
      exposes: { './tokenValidator': './src-v2/tokenValidator.js' },
      chunkFilename: '[name].[contenthash].js',
    }),
    buildEnhancedRemote(project, { out: 'dist/enhanced' }),
    buildArticleRemote(project, {
      out: 'dist/crashy',
      exposes: { './tokenValidator': './src/tokenValidator.js', './crashy': './src/crashy.js' },
    }),
    buildPlainWebpackRemote(project, { out: 'dist/plain' }),
    buildArticleRemote(project, { out: 'dist/article-no-manifest', manifest: false }),
  ]);
});

after(async () => {
  await project?.remove();
  if (work) await rm(work, { recursive: true, force: true });
});

let counter = 0;
/** A fresh folder for one host: its lock file and cache. */
function hostFolder(): { lockFile: string; cacheDir: string } {
  counter++;
  return { lockFile: join(work, `lock-${counter}`, 'ferry.lock'), cacheDir: join(work, `cache-${counter}`) };
}

/** Host options for one MF remote at `url` (root: ferry's repository, which has jsonwebtoken, dotenv and MF's runtime). */
function hostOptions(
  url: string,
  folder: { lockFile: string; cacheDir: string },
  extra: Record<string, unknown> = {},
  warnings: FerryWarning[] = [],
): HostOptions {
  return {
    name: 'userService',
    root: REPO_ROOT,
    lockFile: folder.lockFile,
    cache: { dir: folder.cacheDir },
    remotes: { authServiceRemote: { url, type: 'module-federation', ...extra } },
    shared: { jsonwebtoken: { singleton: true }, dotenv: { singleton: true } },
    live: { pollInterval: false, push: false },
    onWarning: (warning) => warnings.push(warning),
  };
}

/** Pins the remote at `url` in the lock file, as `ferry lock` does (the CLI itself is tested below). */
async function lock(url: string, lockFile: string): Promise<void> {
  const remote = resolveHostOptions(hostOptions(url, { lockFile, cacheDir: work })).remotes[0]!;
  const current = await readLock(lockFile);
  current.remotes[url] = await lockRemote(remote, { maxManifestBytes: 1 << 20 });
  await writeLock(lockFile, current);
}

const token = (secret = 'supersecretkey') => jwt.sign({ sub: '1', username: 'alice' }, secret, { expiresIn: 60 });

type Validator = {
  validateJwtToken(
    token: string,
  ): Promise<{ isValid: boolean; user?: { username: string }; error?: string; build?: number }>;
};

test('the article webpack remote (UniversalFederationPlugin, commonjs-module, nodeExternals) loads by mf-manifest.json, pinned, with jsonwebtoken and dotenv from the share scope', async (t) => {
  await using server = await startLoopback(article);
  const url = `${server.url}mf-manifest.json`;
  const folder = hostFolder();
  await lock(url, folder.lockFile);
  const locked = (await readLock(folder.lockFile)).remotes[url]!;
  assert.deepEqual(locked.packages, ['dotenv', 'jsonwebtoken'], 'the externals the container requires');
  assert.ok(Object.keys(locked.files).includes('__federation_expose_tokenValidator.main.js'));
  const host = createHost(hostOptions(url, folder));
  t.after(() => host.close());
  const { validateJwtToken } = await host.import<Validator>('authServiceRemote/tokenValidator');
  assert.equal((await validateJwtToken(token())).user?.username, 'alice');
  assert.match(String((await validateJwtToken('x')).error), /jwt malformed/);
  // The container's externals came from the host's share scope, chosen and recorded like any shared module.
  const shared = host.shared().default!;
  for (const pkg of ['jsonwebtoken', 'dotenv']) {
    assert.ok(
      shared[pkg]!.uses.some((use) => use.consumer.includes('authServiceRemote') && use.from === 'userService'),
      `${pkg}: ${JSON.stringify(shared[pkg])}`,
    );
  }
  // Every file came from ferry's client: the manifest, the container and the expose's chunk, nothing else.
  assert.deepEqual([...new Set(server.requests)].sort(), [
    '/__federation_expose_tokenValidator.main.js',
    '/mf-manifest.json',
    '/remoteEntry.js',
  ]);
});

test('the article webpack remote loads by its remoteEntry.js URL, locked from the manifest served beside it', async (t) => {
  await using server = await startLoopback(article);
  const url = `${server.url}remoteEntry.js`;
  const folder = hostFolder();
  await lock(url, folder.lockFile);
  server.requests.length = 0;
  const locked = (await readLock(folder.lockFile)).remotes[url]!;
  assert.equal(locked.entry, 'remoteEntry.js');
  assert.equal(locked.manifest, undefined, 'the manifest is not pinned: the host never reads it');
  const host = createHost(hostOptions(url, folder));
  t.after(() => host.close());
  const { validateJwtToken } = await host.import<Validator>('authServiceRemote/tokenValidator');
  assert.equal((await validateJwtToken(token())).isValid, true);
  assert.ok(!server.requests.includes('/mf-manifest.json'), 'the host read only the container and its chunks');
});

test('a @module-federation/enhanced remote (async-node) loads pinned; its fallback copies join the one share scope under their versions', async (t) => {
  await using server = await startLoopback(enhanced);
  const url = `${server.url}mf-manifest.json`;
  const folder = hostFolder();
  await lock(url, folder.lockFile);
  const host = createHost(hostOptions(url, folder));
  t.after(() => host.close());
  const { validateJwtToken } = await host.import<Validator>('authServiceRemote/tokenValidator');
  assert.equal((await validateJwtToken(token())).isValid, true);
  const provided = host.shared().default!.jsonwebtoken!.provided;
  // One provider per version, under its real version (never "undefined"); the host's singleton stays the one loaded.
  assert.ok(
    provided.every((p) => /^\d+\.\d+\.\d+$/.test(p.version)),
    JSON.stringify(provided),
  );
  assert.deepEqual(
    provided.filter((p) => p.loaded).map((p) => p.from),
    ['userService'],
  );
});

test('canary: a tampered chunk of a locked MF remote is refused and never runs', async (t) => {
  await using server = await startLoopback(article);
  const url = `${server.url}mf-manifest.json`;
  const folder = hostFolder();
  await lock(url, folder.lockFile);
  const chunk = '__federation_expose_tokenValidator.main.js';
  const original = await readFile(join(article, chunk), 'utf8');
  const tampered = `globalThis.${CANARY} = true;\n${original}`;
  server.override = (req, res) => {
    if (req.url !== `/${chunk}`) return false;
    res.writeHead(200, { 'content-type': 'text/javascript', 'content-length': Buffer.byteLength(tampered) });
    res.end(tampered);
    return true;
  };
  const host = createHost(hostOptions(url, folder));
  t.after(() => host.close());
  await assert.rejects(host.import('authServiceRemote/tokenValidator'), (error: unknown) => {
    assert.ok(error instanceof Error && 'code' in error, String(error));
    // The chunk is larger than locked (cut off at the locked size) or differs: refused before it runs either way.
    assert.match((error as { code: string }).code, /^ERR_FERRY_(INTEGRITY|RESPONSE_TOO_LARGE)$/);
    assert.match((error as Error).message, /tokenValidator\.main\.js/);
    return true;
  });
  assert.equal((globalThis as Record<string, unknown>)[CANARY], undefined, 'the tampered chunk never ran');
  // Same length, other bytes: the hash decides.
  const sameLength = `globalThis.${CANARY}=1;`.padEnd(40, ' ') + original.slice(40);
  server.override = (req, res) => {
    if (req.url !== `/${chunk}`) return false;
    res.end(sameLength);
    return true;
  };
  await assert.rejects(host.import('authServiceRemote/tokenValidator'), { code: 'ERR_FERRY_INTEGRITY' });
  assert.equal((globalThis as Record<string, unknown>)[CANARY], undefined, 'the tampered chunk never ran');
});

test('bytes not in the lock are refused: a changed container, a remote with no lock entry', async (t) => {
  await using server = await startLoopback(article);
  const url = `${server.url}mf-manifest.json`;
  const folder = hostFolder();
  await lock(url, folder.lockFile);
  const entry = await readFile(join(article, 'remoteEntry.js'), 'utf8');
  server.override = (req, res) => {
    if (req.url !== '/remoteEntry.js') return false;
    res.end(
      entry.replace(
        'module.exports = __webpack_exports__',
        `globalThis.${CANARY}=1;module.exports = __webpack_exports__`,
      ),
    );
    return true;
  };
  const host = createHost(hostOptions(url, folder));
  t.after(() => host.close());
  await assert.rejects(
    host.import('authServiceRemote/tokenValidator'),
    /ERR_FERRY_(INTEGRITY|RESPONSE_TOO_LARGE)|remoteEntry\.js/,
  );
  assert.equal((globalThis as Record<string, unknown>)[CANARY], undefined);
  // A manifest that changed (another build's) is refused by the lock before anything else is read.
  const manifest = await readFile(join(article, 'mf-manifest.json'), 'utf8');
  server.override = (req, res) => {
    if (req.url !== '/mf-manifest.json') return false;
    res.end(JSON.stringify({ ...JSON.parse(manifest), id: 'other' }));
    return true;
  };
  server.requests.length = 0;
  const fresh = createHost(hostOptions(url, { ...folder, cacheDir: hostFolder().cacheDir }));
  t.after(() => fresh.close());
  await assert.rejects(fresh.import('authServiceRemote/tokenValidator'), (error: unknown) => {
    assert.ok(error instanceof LockError, String(error));
    assert.equal(error.reason, 'mismatch');
    assert.match(error.message, /mf-manifest\.json .*not the one pinned in .*ferry\.lock.*ferry lock/s);
    return true;
  });
  assert.deepEqual(server.requests, ['/mf-manifest.json'], 'nothing else was fetched');
  // No entry at all, and not unpinned: refused, naming the fix.
  const other = hostFolder();
  const bare = createHost(hostOptions(url, other));
  t.after(() => bare.close());
  await assert.rejects(bare.import('authServiceRemote/tokenValidator'), (error: unknown) => {
    assert.ok(error instanceof LockError, String(error));
    assert.equal(error.reason, 'not-locked');
    assert.match(error.message, /no entry in .*ferry\.lock.*`ferry lock`.*unpinned: true/s);
    return true;
  });
});

test('an unpinned MF remote loads only with unpinned: true, and warns FERRY_UNPINNED_REMOTE', async (t) => {
  await using server = await startLoopback(article);
  const url = `${server.url}mf-manifest.json`;
  const warnings: FerryWarning[] = [];
  const host = createHost(hostOptions(url, hostFolder(), { unpinned: true }, warnings));
  t.after(() => host.close());
  const { validateJwtToken } = await host.import<Validator>('authServiceRemote/tokenValidator');
  assert.equal((await validateJwtToken(token())).isValid, true);
  const unpinned = warnings.filter((w) => w.code === 'FERRY_UNPINNED_REMOTE');
  assert.equal(unpinned.length, 1);
  assert.match(unpinned[0]!.message, /UNPINNED.*ferry lock/s);
  // Never the default, and never under requireSignatures.
  assert.throws(
    () => createHost({ ...hostOptions(url, hostFolder(), { unpinned: true }), requireSignatures: true }),
    /unpinned.*requireSignatures/s,
  );
  assert.throws(
    () => createHost(hostOptions(url, hostFolder(), { unpinned: true, type: 'ferry' })),
    /unpinned.*applies only to Module Federation remotes/s,
  );
});

test('an MF manifest with an executable getPublicPath is refused and the code never runs', async (t) => {
  await using server = await startLoopback(article);
  const url = `${server.url}mf-manifest.json`;
  const manifest = JSON.parse(await readFile(join(article, 'mf-manifest.json'), 'utf8'));
  manifest.metaData.getPublicPath = `return (globalThis.${CANARY} = 'getPublicPath', 'http://127.0.0.1:1/')`;
  server.override = (req, res) => {
    if (req.url !== '/mf-manifest.json') return false;
    res.end(JSON.stringify(manifest));
    return true;
  };
  const host = createHost(hostOptions(url, hostFolder(), { unpinned: true }));
  t.after(() => host.close());
  await assert.rejects(host.import('authServiceRemote/tokenValidator'), (error: unknown) => {
    assert.ok(error instanceof InvalidManifestError, String(error));
    assert.match(error.message, /getPublicPath.*never runs code from a manifest.*publicPath: 'auto'/s);
    return true;
  });
  assert.equal((globalThis as Record<string, unknown>)[CANARY], undefined);
  assert.ok(!server.requests.includes('/remoteEntry.js'), 'nothing else was fetched');
});

/** Runs `script` in a child process; resolves with its exit code and output. */
function runChild(script: string, env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk));
    child.on('exit', (code) => resolve({ code, output }));
  });
}

test('the container failures that crashed hosts are contained: a chunk outside the lock (which the container used to fetch itself) and ERR_INVALID_PROTOCOL from an async function in remote code fail the import with a typed error; the host lives on', async () => {
  await using server = await startLoopback(crashy);
  const entryUrl = `${server.url}remoteEntry.js`;
  const folder = hostFolder();
  await lock(entryUrl, folder.lockFile);
  // The lock of the container URL, without the chunk of ./crashy: the container's loader reaches for it and, before,
  // fell back to fetching it over HTTP itself (ERR_INVALID_PROTOCOL from a ferry:// public path took the host down).
  const current = await readLock(folder.lockFile);
  const locked = current.remotes[entryUrl]!;
  const crashyChunk = locked.exposes['./crashy']![0]!;
  const trimmed = structuredClone(current);
  trimmed.remotes[entryUrl]!.exposes['./crashy'] = [];
  delete trimmed.remotes[entryUrl]!.files[crashyChunk];
  const trimmedLock = join(work, 'trimmed.lock');
  await writeLock(trimmedLock, trimmed);
  const script = `
    import { createHost } from ${JSON.stringify(pathToFileURL(join(REPO_ROOT, 'src/index.ts')).href)};
    const options = (lockFile) => ({
      name: 'userService', root: process.env.HOST_ROOT, lockFile, cache: { dir: process.env.CACHE_DIR },
      remotes: { authServiceRemote: { url: process.env.URL, type: 'module-federation' } },
      shared: { jsonwebtoken: { singleton: true }, dotenv: { singleton: true } },
      live: { pollInterval: false, push: false }, onWarning: () => {},
    });
    const report = (label, error) => console.log(label, error?.constructor?.name, error?.code, error?.cause?.code ?? '-', error?.reason ?? '', String(error?.message).slice(0, 300).replace(/\\n/g, ' '));
    const trimmed = createHost(options(process.env.TRIMMED_LOCK));
    await trimmed.import('authServiceRemote/crashy').then(() => console.log('trimmed: loaded'), (e) => report('trimmed:', e));
    await trimmed.close();
    const full = createHost(options(process.env.LOCK));
    await full.import('authServiceRemote/crashy').then(() => console.log('crashy: loaded'), (e) => report('crashy:', e));
    const { validateJwtToken } = await full.import('authServiceRemote/tokenValidator');
    console.log('still serving:', (await validateJwtToken('x')).error);
    await full.close();
    console.log('host alive');
  `;
  const { code, output } = await runChild(script, {
    HOST_ROOT: REPO_ROOT,
    CACHE_DIR: folder.cacheDir,
    URL: entryUrl,
    LOCK: folder.lockFile,
    TRIMMED_LOCK: trimmedLock,
  });
  assert.equal(code, 0, output);
  assert.match(
    output,
    new RegExp(`trimmed: LockError ERR_FERRY_LOCK \\S+ not-in-lock .*${crashyChunk.replace(/\./g, '\\.')}.*ferry lock`),
  );
  assert.match(
    output,
    /crashy: EvaluationError ERR_FERRY_EVALUATION ERR_INVALID_PROTOCOL .*failed asynchronously.*Protocol "ferry:" not supported.*contained/,
  );
  assert.match(output, /still serving: jwt malformed/);
  assert.match(output, /host alive/);
  assert.ok(EvaluationError);
});

test('a redeployed MF remote goes live without a restart once `ferry lock` pins its new build; before that it is refused and the old build keeps serving', async (t) => {
  // Chunk names with [contenthash], as in production: a redeploy changes the manifest. (With fixed chunk names the
  // manifest of a new build can be byte for byte the old one: the host then finds the change only when it fetches
  // the chunk, which the lock refuses.)
  const served = join(work, 'served');
  await cp(articleV1, served, { recursive: true });
  await using server = await startLoopback(served);
  const url = `${server.url}mf-manifest.json`;
  const folder = hostFolder();
  await writeFile(join(work, 'package.json'), '{}');
  const cli = (args: string[]) =>
    runFerry(['lock', '--remote', `authServiceRemote=${url}`, '--lock', folder.lockFile, ...args], { cwd: work });
  const first = await cli([]);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /authServiceRemote .*new \(\d+ files, requires dotenv, jsonwebtoken from the host\)/);
  assert.equal((await cli(['--check'])).code, 0);
  // Polled, as MF remotes have no push channel.
  const warnings: FerryWarning[] = [];
  const host = createHost({ ...hostOptions(url, folder, {}, warnings), live: { pollInterval: 250 } });
  t.after(() => host.close());
  const validator = await host.live<Validator>('authServiceRemote/tokenValidator');
  assert.equal((await validator.validateJwtToken(token())).build, undefined);
  // The remote is redeployed (another build in the same folder): not in the lock yet.
  await rm(served, { recursive: true });
  await cp(articleV2, served, { recursive: true });
  const check = await cli(['--check']);
  assert.equal(check.code, 1, 'ferry lock --check fails in CI when the served bytes differ');
  assert.match(check.stdout, /files changed/);
  const [refused] = await host.update('authServiceRemote');
  assert.equal(refused!.status, 'refused', JSON.stringify(refused));
  assert.ok(refused!.error instanceof LockError);
  assert.match(refused!.error.message, /not the one pinned in .*ferry\.lock.*run `ferry lock`/s);
  assert.equal((await validator.validateJwtToken(token())).build, undefined, 'the old build keeps serving');
  const loud = warnings.find((w) => w.code === 'FERRY_LOCK_REFUSED');
  assert.match(String(loud?.message), /not the one pinned in .*ferry lock.*running build .* keeps serving/s);
  // Reviewed and re-locked: the next poll takes it, no restart.
  const activated = new Promise<void>((resolve) => host.on('activated', () => resolve()));
  const relock = await cli([]);
  assert.equal(relock.code, 0, relock.stderr);
  await activated;
  assert.equal((await validator.validateJwtToken(token())).build, 2);
  assert.equal(host.remotes()['authServiceRemote']?.url, url);
});

/**
 * The article's User Service answers, from a started `child` that prints `listening <port>`: no header 401, no token
 * 401, a token signed with another secret 403 naming the error, a good token 200 welcoming its user. Stops the child.
 */
async function assertArticleAnswers(child: ChildProcess): Promise<void> {
  let output = '';
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk));
  try {
    const port = await new Promise<string>((resolve, reject) => {
      child.stdout?.on('data', (chunk: Buffer) => {
        output += chunk;
        const match = /listening (\d+)/.exec(output);
        if (match) resolve(match[1]!);
      });
      child.on('exit', (code) => reject(new Error(`user service exited ${code}: ${output}`)));
    });
    const get = (authorization?: string) =>
      fetch(`http://127.0.0.1:${port}/profile`, authorization === undefined ? {} : { headers: { authorization } });
    const none = await get();
    assert.equal(none.status, 401);
    assert.deepEqual(await none.json(), { message: 'No authorization header' });
    const noToken = await get('Bearer');
    assert.equal(noToken.status, 401);
    assert.deepEqual(await noToken.json(), { message: 'Token not provided' });
    const bad = await get(`Bearer ${token('another secret')}`);
    assert.equal(bad.status, 403);
    assert.deepEqual(await bad.json(), { message: 'Invalid token: invalid signature' });
    const ok = await get(`Bearer ${token()}`);
    assert.equal(ok.status, 200, output);
    const body = (await ok.json()) as { message: string; user: { username: string } };
    assert.equal(body.message, 'Welcome alice! This is your profile.');
    assert.equal(body.user.username, 'alice');
  } finally {
    child.kill('SIGTERM');
  }
}

test('a ferry User Service (express, createHost) against the article webpack-built Auth Service answers 401 / 401 / 403 / 200', async () => {
  await using server = await startLoopback(article);
  const url = `${server.url}mf-manifest.json`;
  const folder = hostFolder();
  await lock(url, folder.lockFile);
  const script = `
    import express from 'express';
    import { createHost } from ${JSON.stringify(pathToFileURL(join(REPO_ROOT, 'src/index.ts')).href)};
    const host = createHost({
      name: 'userService', root: process.env.HOST_ROOT, lockFile: process.env.LOCK, cache: { dir: process.env.CACHE_DIR },
      remotes: { authServiceRemote: { url: process.env.AUTH_URL, type: 'module-federation' } },
      shared: { jsonwebtoken: { singleton: true }, dotenv: { singleton: true }, express: { singleton: true } },
    });
    const { validateJwtToken } = await host.live('authServiceRemote/tokenValidator');
    const app = express();
    app.use(async (req, res, next) => {
      const header = req.headers.authorization;
      if (!header) return res.status(401).json({ message: 'No authorization header' });
      const token = header.split(' ')[1];
      if (!token) return res.status(401).json({ message: 'Token not provided' });
      const { isValid, user, error } = await validateJwtToken(token);
      if (!isValid) return res.status(403).json({ message: 'Invalid token: ' + error });
      req.user = user;
      next();
    });
    app.get('/profile', (req, res) => res.json({ message: 'Welcome ' + req.user.username + '! This is your profile.', user: req.user }));
    const listener = app.listen(0, '127.0.0.1', (error) => {
      if (error) { console.error(error); process.exit(1); }
      console.log('listening ' + listener.address().port);
    });
    process.on('SIGTERM', () => { listener.close(); host.close(); });
  `;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOST_ROOT: REPO_ROOT,
    LOCK: folder.lockFile,
    CACHE_DIR: folder.cacheDir,
    AUTH_URL: url,
  };
  delete env['JWT_SECRET'];
  await assertArticleAnswers(spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: REPO_ROOT, env }));
});

test('ferry lock with a host config pins exactly its Module Federation remotes', async () => {
  await using server = await startLoopback(enhanced);
  const url = `${server.url}mf-manifest.json`;
  const dir = await mkdtemp(join(work, 'config-'));
  await writeFile(join(dir, 'package.json'), '{"type":"module"}');
  await writeFile(
    join(dir, 'ferry.config.mjs'),
    `export const host = { name: 'userService', remotes: { authServiceRemote: { url: ${JSON.stringify(url)}, type: 'module-federation' } } };\n`,
  );
  const result = await runFerry(['lock'], { cwd: dir });
  assert.equal(result.code, 0, result.stderr);
  const written = await readLock(join(dir, 'ferry.lock'));
  assert.deepEqual(Object.keys(written.remotes), [url]);
  // Stable key order: locking again writes the same bytes.
  const before = await readFile(join(dir, 'ferry.lock'), 'utf8');
  assert.equal((await runFerry(['lock'], { cwd: dir })).code, 0);
  assert.equal(await readFile(join(dir, 'ferry.lock'), 'utf8'), before);
  assert.equal(emptyLock().lockfileVersion, written.lockfileVersion);
});

test('availability: a host restarted while the MF remote is down starts from the locked copies in its cache (stale-if-error), without waiting out retries', async () => {
  const server = await startLoopback(article);
  const url = `${server.url}mf-manifest.json`;
  const folder = hostFolder();
  await lock(url, folder.lockFile);
  const first = createHost(hostOptions(url, folder));
  await first.import('authServiceRemote/tokenValidator');
  await first.close();
  await server.close();
  const warnings: FerryWarning[] = [];
  const restarted = createHost(hostOptions(url, folder, {}, warnings));
  try {
    const started = performance.now();
    const { validateJwtToken } = await restarted.import<Validator>('authServiceRemote/tokenValidator');
    assert.equal((await validateJwtToken(token())).isValid, true);
    assert.ok(performance.now() - started < 5000, 'no retries waited out');
    assert.ok(
      warnings.some((w) => w.code === 'FERRY_STALE_CACHE' && /pinned in .*ferry\.lock.*cache/.test(w.message)),
      JSON.stringify(warnings),
    );
    // A live-update check while it is down could not ask the remote: failed (asked again later), not unchanged.
    const [checked] = await restarted.update('authServiceRemote');
    assert.equal(checked?.status, 'failed', JSON.stringify(checked));
  } finally {
    await restarted.close();
  }
  // Without a cached copy the remote's own error is the answer.
  const empty = createHost(
    hostOptions(url, { lockFile: folder.lockFile, cacheDir: hostFolder().cacheDir }, { timeouts: { import: 1500 } }),
  );
  await assert.rejects(empty.import('authServiceRemote/tokenValidator'), (error: unknown) => {
    assert.match(String((error as { code?: string }).code), /^ERR_FERRY_(NETWORK|TIMEOUT)$/, String(error));
    return true;
  });
  await empty.close();
});

/** The article's User Service entry, as written there (CommonJS, synchronous require at the top), run by ferry/register. */
const ARTICLE_USER_SERVICE = `const express = require('express');
const { validateJwtToken } = require('authServiceRemote/tokenValidator');
const app = express();
app.use(async (req, res, next) => {
  const authHeader = req.headers.authorization;
  if (!authHeader) return res.status(401).json({ message: 'No authorization header' });
  const token = authHeader.split(' ')[1];
  if (!token) return res.status(401).json({ message: 'Token not provided' });
  const { isValid, user, error } = await validateJwtToken(token);
  if (!isValid) return res.status(403).json({ message: \`Invalid token: \${error}\` });
  req.user = user;
  next();
});
app.get('/profile', (req, res) => res.json({ message: \`Welcome \${req.user.username}! This is your profile.\`, user: req.user }));
const server = app.listen(0, '127.0.0.1', (error) => {
  if (error) throw error;
  console.log('listening ' + server.address().port);
});
process.on('SIGTERM', () => server.close());
`;

test('the article User Service entry (CommonJS, a synchronous require of the remote at its top; listening on port 0) runs with node --import ferry/register against the webpack-built Auth Service, locked by `ferry lock` from the host config: 401 / 401 / 403 / 200', async () => {
  await using server = await startLoopback(article);
  const url = `${server.url}mf-manifest.json`;
  const dir = await mkdtemp(join(work, 'register-'));
  const links = ['express', 'jsonwebtoken', 'dotenv', '@module-federation/runtime', '@module-federation/sdk'];
  await mkdir(join(dir, 'node_modules', '@module-federation'), { recursive: true });
  for (const pkg of links) await symlink(join(REPO_ROOT, 'node_modules', pkg), join(dir, 'node_modules', pkg), 'dir');
  await symlink(REPO_ROOT, join(dir, 'node_modules', 'ferry'), 'dir');
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'user-service-host', private: true }));
  await writeFile(join(dir, 'server.js'), ARTICLE_USER_SERVICE);
  await writeFile(
    join(dir, 'ferry.config.mjs'),
    `export const host = {
      name: 'userServiceHost',
      remotes: { authServiceRemote: { url: ${JSON.stringify(url)}, type: 'module-federation' } },
      shared: { jsonwebtoken: { singleton: true }, dotenv: { singleton: true }, express: { singleton: true } },
      cache: { dir: '.ferry-cache' },
    };\n`,
  );
  // Before the lock: the host refuses to start it.
  const unlocked = await runChildScript(dir, ['--import', 'ferry/register', 'server.js']);
  assert.notEqual(unlocked.code, 0);
  assert.match(unlocked.output, /ERR_FERRY_LOCK|no entry in .*ferry\.lock/s);
  const locked = await runFerry(['lock'], { cwd: dir });
  assert.equal(locked.code, 0, locked.stderr);
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['JWT_SECRET'];
  await assertArticleAnswers(spawn(process.execPath, ['--import', 'ferry/register', 'server.js'], { cwd: dir, env }));
});

/** Runs node with `args` in `dir` until it exits (or 20 s): its exit code and output. */
async function runChildScript(dir: string, args: string[]): Promise<{ code: number | null; output: string }> {
  const { code, stdout, stderr } = await runProcess(process.execPath, args, { cwd: dir, timeoutMs: 20_000 });
  return { code, output: stdout + stderr };
}

test("a build ferry cannot lock (webpack's own ModuleFederationPlugin: no mf-manifest.json) is refused with the settings that work", async () => {
  await using server = await startLoopback(plain);
  const url = `${server.url}remoteEntry.js`;
  const lockFile = join(work, 'plain', 'ferry.lock');
  const result = await runFerry(['lock', '--remote', `authServiceRemote=${url}`, '--lock', lockFile], { cwd: work });
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    /ERR_FERRY_UNSUPPORTED_CONTAINER.*no mf-manifest\.json beside its container.*manifest: true.*publicPath: 'auto'/s,
  );
  // Unpinned, a container URL alone cannot be loaded either: nothing says which chunks an expose needs.
  const host = createHost(hostOptions(url, hostFolder(), { unpinned: true }));
  await assert.rejects(host.import('authServiceRemote/tokenValidator'), (error: unknown) => {
    assert.ok(error instanceof LockError, String(error));
    assert.match(error.message, /container URL.*mf-manifest\.json.*manifest: true/s);
    return true;
  });
  await host.close();
  assert.deepEqual(server.requests, ['/mf-manifest.json'], 'ferry lock looked for the manifest; nothing else was read');
});

test("ferry lock --record pins builds without an mf-manifest.json by running them (webpack's own ModuleFederationPlugin: require chunks; the article's build as written: readFileVm chunks); the host then loads them by remoteEntry.js and refuses a tampered chunk", async (t) => {
  // ferry lock runs in the host's project: the packages the remote requires while recording come from there.
  const dir = await mkdtemp(join(work, 'record-'));
  await mkdir(join(dir, 'node_modules', '@module-federation'), { recursive: true });
  for (const pkg of ['jsonwebtoken', 'dotenv', '@module-federation/runtime', '@module-federation/sdk']) {
    await symlink(join(REPO_ROOT, 'node_modules', pkg), join(dir, 'node_modules', pkg), 'dir');
  }
  await writeFile(join(dir, 'package.json'), '{}');
  for (const [label, build] of [
    ['webpack ModuleFederationPlugin', plain],
    ['article, no manifest', articleNoManifest],
  ] as const) {
    await using server = await startLoopback(build);
    const url = `${server.url}remoteEntry.js`;
    const folder = hostFolder();
    const args = ['lock', '--remote', `authServiceRemote=${url}`, '--lock', folder.lockFile];
    const refused = await runFerry(args, { cwd: dir });
    assert.equal(refused.code, 1, `${label}: without --record nothing runs`);
    assert.match(refused.stderr, /--record/);
    const recorded = await runFerry([...args, '--record', '--expose', './tokenValidator'], { cwd: dir });
    assert.equal(recorded.code, 0, `${label}: ${recorded.stderr}`);
    const locked = (await readLock(folder.lockFile)).remotes[url]!;
    assert.ok(locked.exposes['./tokenValidator']!.length > 0, `${label}: ${JSON.stringify(locked)}`);
    const host = createHost(hostOptions(url, folder));
    t.after(() => host.close());
    const { validateJwtToken } = await host.import<Validator>('authServiceRemote/tokenValidator');
    assert.equal((await validateJwtToken(token())).user?.username, 'alice', label);
    const chunk = locked.exposes['./tokenValidator']!.find((name) => /tokenValidator/.test(name))!;
    const original = await readFile(join(build, chunk), 'utf8');
    server.override = (req, res) => {
      if (req.url !== `/${chunk}`) return false;
      res.end(`globalThis.${CANARY}=1;`.padEnd(40, ' ') + original.slice(40));
      return true;
    };
    const second = createHost(hostOptions(url, { ...folder, cacheDir: hostFolder().cacheDir }));
    t.after(() => second.close());
    await assert.rejects(second.import('authServiceRemote/tokenValidator'), { code: 'ERR_FERRY_INTEGRITY' }, label);
    assert.equal((globalThis as Record<string, unknown>)[CANARY], undefined, `${label}: the tampered chunk never ran`);
  }
});
