/**
 * Regression tests for what a hostile review of the host runtime broke (the hardening issue), one per numbered item:
 * each attacks the host the way the review did — a hostile push channel, remote code that never settles, a load whose
 * files never arrive, a lost announcement, a signature file with a byte-order mark, pinned keys that can never verify,
 * special files planted in the cache folder — and fails without its fix.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmod, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createHost,
  type FerryWarning,
  InvalidOptionError,
  SignatureError,
  TimeoutError,
  type UpdateMessage,
} from '../src/index.ts';
import { entryNameOf } from '../src/runtime/cache/file-cache.ts';
import { createFerryServer } from '../src/server/index.ts';
import { runFerry } from './helpers/build-fixture.ts';
import { startLoopback } from './helpers/loopback.ts';
import { writeRemoteOutput } from './helpers/remote-output.ts';
import { createTempProject, REPO_ROOT } from './helpers/temp-project.ts';
import { createSignedRemote } from './helpers/trust-fixture.ts';

const quiet = { onWarning: () => {} };

/** A cache folder of its own per test. */
async function cacheFolder() {
  const project = await createTempProject({});
  return { dir: join(project.dir, 'cache'), [Symbol.asyncDispose]: () => project.remove() };
}

/** Path of a content entry in a cache folder. */
function entryPath(cacheDir: string, integrity: string): string {
  return join(cacheDir, 'files', entryNameOf(integrity));
}

describe('1. a hostile push channel', () => {
  test('a host under --max-old-space-size=64 survives an endless event and an event flood for ~10 s, and still serves', async () => {
    await using project = await createTempProject({});
    const remoteDir = join(project.dir, 'remote');
    await writeRemoteOutput(remoteDir, { name: 'authService', exposes: { './x': { code: 'exports.answer = 42;' } } });
    await using server = await startLoopback(remoteDir);
    let streams = 0;
    const open: ServerResponse[] = [];
    server.override = (req: IncomingMessage, res: ServerResponse) => {
      if (!req.url?.startsWith('/mf-manifest.events')) return false;
      streams++;
      open.push(res);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (streams > 1) {
        // Later subscriptions get a flood: 20 announcements every 10 ms.
        const flood = 'event: manifest\ndata: {"integrity":"sha384-flood"}\n\n'.repeat(20);
        const timer = setInterval(() => (res.destroyed ? clearInterval(timer) : res.write(flood)), 10);
        return true;
      }
      // The first subscription gets an event that never ends: data lines as fast as the host reads, no blank line.
      const line = `data: ${'x'.repeat(60 * 1024)}\n`;
      const pump = () => {
        while (!res.destroyed && res.write(line)) {
          // until the socket's buffer is full
        }
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
      return true;
    };
    const script = join(project.dir, 'host.ts');
    await writeFile(
      script,
      `import { createHost } from ${JSON.stringify(join(REPO_ROOT, 'src/index.ts'))};
const host = createHost({ name: 'h', remotes: { authService: process.env.URL }, cache: { dir: process.env.CACHE },
  onWarning: () => {} });
const first = await host.import('authService/x');
await new Promise((resolve) => setTimeout(resolve, 10_000));
const again = await host.import('authService/x');
console.log(JSON.stringify({ first: first.answer, again: again.answer, heapMiB: process.memoryUsage().heapUsed / 2 ** 20 }));
await host.close();
process.exit(0);
`,
    );
    const child = spawn(process.execPath, ['--max-old-space-size=64', script], {
      env: { ...process.env, URL: `${server.url}mf-manifest.json`, CACHE: join(project.dir, 'cache') },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    for (const res of open) res.destroy();
    assert.equal(code, 0, `the host died: ${stderr.slice(-2000)}`);
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as { first: number; again: number; heapMiB: number };
    assert.equal(result.first, 42);
    assert.equal(result.again, 42, 'the host still serves after the attack');
    assert.ok(streams >= 2, `the flood was tried too (${streams} subscriptions)`);
    // One first load, at most one check a second while a channel is up, then none during the penalty (~10 s).
    const manifests = server.requests.filter((path) => path === '/mf-manifest.json').length;
    assert.ok(manifests <= 12, `the events made the host fetch the manifest ${manifests} times in ~10 s`);
    assert.ok(streams <= 4, `a misbehaving channel is dropped and backed off, not reopened at once (${streams} times)`);
  });
});

describe('2. the import deadline covers initialisation and evaluation', () => {
  const hanging = {
    init: `exports.init = () => new Promise(() => {}); exports.get = () => Promise.resolve(() => ({ answer: 1 }));`,
    get: `exports.init = () => {}; exports.get = () => new Promise(() => {});`,
    factory: `exports.init = () => {}; exports.get = () => Promise.resolve(() => new Promise(() => {}));`,
  };
  for (const [what, remoteEntry] of Object.entries(hanging)) {
    test(`a container whose ${what} never settles fails the import at the deadline (TimeoutError, phase evaluation)`, async () => {
      await using project = await createTempProject({});
      await writeRemoteOutput(project.dir, { name: 'authService', remoteEntry, exposes: { './x': { code: '' } } });
      await using server = await startLoopback(project.dir);
      await using cache = await cacheFolder();
      const host = createHost({
        name: 'h',
        remotes: { authService: server.url },
        cache: { dir: cache.dir },
        timeouts: { import: 700 },
        ...quiet,
      });
      const started = performance.now();
      await assert.rejects(
        host.import('authService/x'),
        (error: unknown) =>
          error instanceof TimeoutError &&
          error.phase === 'evaluation' &&
          /did not finish .* within/.test(error.message),
      );
      const elapsed = performance.now() - started;
      assert.ok(elapsed < 700 * 1.1 + 300, `the import waited ${Math.round(elapsed)} ms past a 700 ms deadline`);
      await host.close();
    });
  }

  test('a live update whose init never settles is refused (initialisation, timed out); a later fixed build goes live', async () => {
    await using project = await createTempProject({});
    const good = (tag: string) => ({ name: 'authService', exposes: { './x': { code: `exports.tag = '${tag}';` } } });
    await writeRemoteOutput(project.dir, { ...good('v1'), release: 1 });
    await using server = await startLoopback(project.dir);
    await using cache = await cacheFolder();
    const events: UpdateMessage[] = [];
    const host = createHost({
      name: 'h',
      remotes: { authService: server.url },
      cache: { dir: cache.dir },
      timeouts: { import: 600 },
      live: { push: false, pollInterval: false, onUpdate: (event) => events.push(event) },
      ...quiet,
    });
    assert.equal((await host.import<{ tag: string }>('authService/x')).tag, 'v1');
    await writeRemoteOutput(project.dir, {
      ...good('v2'),
      version: '1.0.1',
      release: 2,
      remoteEntry: hanging.init,
    });
    const [refused] = await host.update('authService');
    assert.equal(refused?.status, 'refused', 'host.update() settles');
    const event = events.find((e) => e.type === 'refused');
    assert.equal(event?.reason, 'initialisation');
    assert.match(String(event?.error?.message), /did not finish its container's init\(\) within/);
    assert.equal(host.loadedVersion('authService'), '1.0.0');
    await writeRemoteOutput(project.dir, { ...good('v3'), version: '1.0.2', release: 3 });
    const [activated] = await host.update('authService');
    assert.equal(activated?.status, 'activated', 'a later build is still tried');
    assert.equal((await host.import<{ tag: string }>('authService/x')).tag, 'v3');
    await host.close();
  });

  test('a health check that never settles refuses the candidate instead of holding every later update', async () => {
    await using project = await createTempProject({});
    await writeRemoteOutput(project.dir, { name: 'authService', release: 1, exposes: { './x': { code: '' } } });
    await using server = await startLoopback(project.dir);
    await using cache = await cacheFolder();
    const host = createHost({
      name: 'h',
      remotes: { authService: server.url },
      cache: { dir: cache.dir },
      timeouts: { import: 500 },
      live: { push: false, pollInterval: false, healthCheck: () => new Promise(() => {}) },
      ...quiet,
    });
    await host.import('authService/x');
    await writeRemoteOutput(project.dir, {
      name: 'authService',
      version: '1.0.1',
      release: 2,
      exposes: { './x': { code: '/* 2 */' } },
    });
    const [outcome] = await host.update('authService');
    assert.equal(outcome?.status, 'refused');
    assert.match(String(outcome?.error?.message), /health check .*did not settle/);
    await host.close();
  });
});

describe('3. a failed first load of a new version does not poison the disk cache', () => {
  test('a new release whose files never arrive leaves the cached version and the rollback floor as they were', async () => {
    await using remote = await createSignedRemote({ release: 1, version: '1.0.0' });
    await using cache = await cacheFolder();
    const options = {
      name: 'h',
      remotes: { authService: { url: remote.manifestUrl, publicKey: remote.publicKey } },
      cache: { dir: cache.dir },
      retry: false as const,
      live: { push: false, pollInterval: false as const },
      ...quiet,
    };
    const first = createHost(options);
    assert.equal((await first.import<{ answer: number }>('authService/x')).answer, 42);
    await first.close();

    // Release 2 (other code): its manifest is served and verifies, its files answer 503 for as long as the test lasts.
    const v2 = await remote.publish({
      release: 2,
      version: '2.0.0',
      exposes: { './x': { code: `${remote.canary}exports.answer = 2;\n` } },
    });
    const v2Files = new Set(Object.keys(v2.ferry.files).map((name) => `/${name}`));
    remote.server.override = (req, res) => {
      if (!v2Files.has(new URL(req.url ?? '/', 'http://x').pathname)) return false;
      res.writeHead(503).end();
      return true;
    };
    const second = createHost(options);
    await assert.rejects(second.import('authService/x'));
    await second.close();
    const releases = JSON.parse(await readFile(join(cache.dir, 'releases.json'), 'utf8'));
    assert.equal(Object.values(releases.remotes as Record<string, { release: number }>)[0]?.release, 1);

    // The remote goes down: a restarted host starts from the version it has whole.
    await remote.server.close();
    const third = createHost(options);
    assert.equal((await third.import<{ answer: number }>('authService/x')).answer, 42);
    assert.equal(third.loadedVersion('authService'), '1.0.0');
    assert.equal(third.remotes().authService?.source, 'cache');
    await third.close();
  });
});

describe('5. a lost announcement is picked up anyway', () => {
  test('a host with a connected push channel that never announces still revalidates now and then', async () => {
    await using project = await createTempProject({});
    await writeRemoteOutput(project.dir, { name: 'authService', release: 1, exposes: { './x': { code: '' } } });
    await using server = await startLoopback(project.dir);
    const streams: ServerResponse[] = [];
    server.override = (req, res) => {
      if (!req.url?.startsWith('/mf-manifest.events')) return false;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': connected\n\n');
      streams.push(res);
      return true;
    };
    const pings = setInterval(() => {
      for (const res of streams) res.write(': ping\n\n');
    }, 100);
    await using cache = await cacheFolder();
    const host = createHost({
      name: 'h',
      remotes: { authService: server.url },
      cache: { dir: cache.dir },
      live: { pollInterval: 100 },
      ...quiet,
    });
    try {
      await host.import('authService/x');
      await sleep(300); // the channel is connected: polling at the full rate stops
      await writeRemoteOutput(project.dir, {
        name: 'authService',
        version: '1.1.0',
        release: 2,
        exposes: { './x': { code: '/* 2 */' } },
      });
      const until = performance.now() + 5000;
      while (host.loadedVersion('authService') !== '1.1.0' && performance.now() < until) await sleep(50);
      assert.equal(host.loadedVersion('authService'), '1.1.0', 'the new version went live without an announcement');
      assert.ok(streams.length >= 1, 'the push channel was connected');
      // While connected, the checks come at a tenth of the polling rate, not every 100 ms.
      const before = server.requests.filter((path) => path === '/mf-manifest.json').length;
      await sleep(1000);
      const during = server.requests.filter((path) => path === '/mf-manifest.json').length - before;
      assert.ok(during <= 3, `${during} manifest checks in 1 s with the channel connected`);
    } finally {
      clearInterval(pings);
      for (const res of streams) res.destroy();
      await host.close();
    }
  });
});

describe('6. a signature file with a byte-order mark', () => {
  test('is refused with a SignatureError by the host and by ferry verify, never a raw SyntaxError', async () => {
    await using remote = await createSignedRemote();
    const signature = join(remote.project.dir, 'mf-manifest.json.sig');
    await writeFile(signature, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), await readFile(signature)]));
    await using cache = await cacheFolder();
    const host = createHost({
      name: 'h',
      remotes: { authService: { url: remote.manifestUrl, publicKey: remote.publicKey } },
      cache: { dir: cache.dir },
      ...quiet,
    });
    await assert.rejects(
      host.import('authService/x'),
      (error: unknown) =>
        error instanceof SignatureError && /not exactly what `ferry build --sign` writes/.test(error.message),
    );
    assert.equal(remote.runs(), 0, 'nothing ran');
    await host.close();
    const verify = await runFerry(['verify', remote.project.dir, '--key', remote.publicKey], {
      cwd: remote.project.dir,
    });
    assert.equal(verify.code, 1, verify.stdout + verify.stderr);
    assert.match(verify.stdout + verify.stderr, /\[ERR_FERRY_SIGNATURE\]/);
    assert.doesNotMatch(verify.stdout + verify.stderr, /bug|SyntaxError/i);
  });
});

describe('7. pinned keys that can never verify', () => {
  test('white space around a key is dropped, and the host verifies with it', async () => {
    await using remote = await createSignedRemote();
    await using cache = await cacheFolder();
    const host = createHost({
      name: 'h',
      remotes: { authService: { url: remote.manifestUrl, publicKey: ` ${remote.publicKey}\n` } },
      cache: { dir: cache.dir },
      ...quiet,
    });
    assert.equal((await host.import<{ answer: number }>('authService/x')).answer, 42);
    await host.close();
  });

  test('a non-canonical spelling, small-order and out-of-range points, and an empty list are refused at createHost', async () => {
    await using remote = await createSignedRemote();
    const raw = Buffer.from(remote.publicKey.slice('ed25519:'.length), 'base64url');
    const spelled = remote.publicKey.slice(0, -1);
    // base64url's last character of 32 bytes carries 2 bits that are ignored: the next character decodes alike.
    const last = remote.publicKey.at(-1)!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const nonCanonical = spelled + alphabet[alphabet.indexOf(last) + 1];
    assert.deepEqual(
      Buffer.from(nonCanonical.slice(8), 'base64url'),
      raw,
      'the test needs a spelling of the same bytes',
    );
    const key = (bytes: Buffer) => `ed25519:${bytes.toString('base64url')}`;
    const identity = Buffer.alloc(32);
    identity[0] = 1;
    const order8 = Buffer.from('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', 'hex');
    const outOfRange = Buffer.alloc(32, 0xff);
    outOfRange[31] = 0x7f;
    const cases: Array<[unknown, RegExp]> = [
      [nonCanonical, /not spelled canonically \(its last character should be "/],
      [key(identity), /degenerate Ed25519 key/],
      [key(Buffer.alloc(32)), /degenerate Ed25519 key/],
      [key(order8), /degenerate Ed25519 key/],
      [key(outOfRange), /degenerate Ed25519 key/],
      [[], /is an empty list/],
    ];
    for (const [publicKey, pattern] of cases) {
      assert.throws(
        () => createHost({ name: 'h', remotes: { authService: { url: remote.manifestUrl, publicKey } as never } }),
        (error: unknown) =>
          error instanceof InvalidOptionError &&
          (error as InvalidOptionError & { option?: string }).option === 'remotes.authService.publicKey' &&
          pattern.test(error.message),
        String(publicKey),
      );
    }
  });
});

describe('8. special files in the cache folder', () => {
  test('a FIFO and a link to /dev/zero planted as cache entries are deleted and fetched again; imports settle', async () => {
    await using remote = await createSignedRemote();
    // Served by ferry's own server (ETags): the second host's manifest is a 304, so its files come from the cache.
    const served = await createFerryServer({ dir: remote.project.dir, port: 0 });
    await using cache = await cacheFolder();
    const warnings: FerryWarning[] = [];
    const options = {
      name: 'h',
      remotes: { authService: { url: `${served.url}mf-manifest.json`, publicKey: remote.publicKey } },
      cache: { dir: cache.dir },
      timeouts: { import: 2000 },
      onWarning: (warning: FerryWarning) => warnings.push(warning),
    };
    const first = createHost(options);
    await first.import('authService/x');
    await first.close();
    const manifest = JSON.parse(await readFile(join(remote.project.dir, 'mf-manifest.json'), 'utf8'));
    const files = manifest.ferry.files as Record<string, { integrity: string }>;
    const bundle = Object.keys(files).find((name) => name.startsWith('x.'))!;
    const fifo = entryPath(cache.dir, files[bundle]!.integrity);
    await rm(fifo);
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
    const zero = entryPath(cache.dir, files[manifest.ferry.remoteEntry]!.integrity);
    await rm(zero);
    await symlink('/dev/zero', zero);

    const second = createHost(options);
    const started = performance.now();
    assert.equal((await second.import<{ answer: number }>('authService/x')).answer, 42);
    assert.ok(performance.now() - started < 2000, 'the import did not wait on the FIFO');
    assert.ok(process.memoryUsage().rss < 2 ** 30, 'nothing read /dev/zero');
    assert.equal(warnings.filter((w) => w.code === 'FERRY_CACHE_ENTRY_CORRUPT').length, 2);
    await second.close();
    await served.close();
  });

  test('a FIFO in place of releases.json does not hang createHost', async () => {
    await using cache = await cacheFolder();
    await mkdir(cache.dir, { recursive: true, mode: 0o700 });
    assert.equal(spawnSync('mkfifo', [join(cache.dir, 'releases.json')]).status, 0, 'mkfifo');
    const warnings: FerryWarning[] = [];
    const host = createHost({
      name: 'h',
      remotes: {},
      cache: { dir: cache.dir },
      onWarning: (warning) => warnings.push(warning),
    });
    assert.deepEqual(
      warnings.map((w) => w.code),
      ['FERRY_CACHE_CORRUPT'],
    );
    await host.close();
  });
});

describe('also: the cache folder itself', () => {
  test('a world-writable cache folder is reported (FERRY_CACHE_INSECURE)', async () => {
    await using cache = await cacheFolder();
    await mkdir(cache.dir, { recursive: true });
    await chmod(cache.dir, 0o777);
    const warnings: FerryWarning[] = [];
    const host = createHost({
      name: 'h',
      remotes: {},
      cache: { dir: cache.dir },
      onWarning: (w) => warnings.push(w),
    });
    const warning = warnings.find((w) => w.code === 'FERRY_CACHE_INSECURE');
    assert.match(String(warning?.message), /can be written by every user.*chmod 700/s);
    await host.close();
  });

  test('a release record deleted from a cache folder that signed remotes used is reported (FERRY_RELEASES_MISSING)', async () => {
    await using remote = await createSignedRemote();
    await using cache = await cacheFolder();
    const warnings: FerryWarning[] = [];
    const options = {
      name: 'h',
      remotes: { authService: { url: remote.manifestUrl, publicKey: remote.publicKey } },
      cache: { dir: cache.dir },
      onWarning: (w: FerryWarning) => warnings.push(w),
    };
    const first = createHost(options);
    await first.import('authService/x');
    await first.close();
    assert.equal(
      warnings.find((w) => w.code === 'FERRY_RELEASES_MISSING'),
      undefined,
      'not while the record is there',
    );
    await rm(join(cache.dir, 'releases.json'));
    const second = createHost(options);
    assert.match(
      String(warnings.find((w) => w.code === 'FERRY_RELEASES_MISSING')?.message),
      /releases\.json is missing.*rollback protection starts over/s,
    );
    await second.close();
  });
});
