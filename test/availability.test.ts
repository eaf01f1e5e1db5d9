/**
 * Availability: the content-addressed disk cache, conditional requests, starting from the cache while a remote is
 * down (stale-if-error) and picking the remote up when it is back, concurrent imports coalesced, the circuit breaker,
 * local fallbacks, and the options. The remote is served by ferry's own request handler (strong ETags, 304s) on a
 * real loopback server; the fault matrix (test/fault-matrix.test.ts) covers each way a remote can fail.
 */
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { once } from 'node:events';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CircuitOpenError,
  createHost,
  HttpStatusError,
  IntegrityError,
  InvalidOptionError,
  NetworkError,
  TimeoutError,
} from '../src/index.ts';
import { integrityOf } from '../src/manifest/index.ts';
import { isRetryable } from '../src/runtime/net/failures.ts';
import { parseRetryAfter } from '../src/runtime/net/fetch-bytes.ts';
import { retryDelay } from '../src/runtime/net/retry.ts';
import { createRequestHandler } from '../src/server/index.ts';
import { createTempProject } from './helpers/temp-project.ts';
import { createSignedRemote, type SignedRemote } from './helpers/trust-fixture.ts';

interface Logged {
  path: string;
  status: number;
  ifNoneMatch: string | undefined;
}

/** Serves a build folder with ferry's handler (ETags, 304) on loopback, logging every request and its status. */
async function serveFolder(
  dir: string,
  port = 0,
): Promise<{ url: string; port: number; log: Logged[]; close(): Promise<void>; server: Server }> {
  const handler = createRequestHandler({ dir });
  const log: Logged[] = [];
  const server = createServer((req, res) => {
    res.once('finish', () =>
      log.push({
        path: new URL(req.url ?? '/', 'http://x').pathname,
        status: res.statusCode,
        ifNoneMatch: req.headers['if-none-match'],
      }),
    );
    handler(req, res);
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actual}/`,
    port: actual,
    log,
    server,
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

const quiet = { onWarning: () => {} };
const files = (log: Logged[]) => log.filter((entry) => !entry.path.startsWith('/mf-manifest.json'));

function collect<T>(name: string): { messages: T[]; stop(): void } {
  const messages: T[] = [];
  const listener = (message: unknown) => messages.push(message as T);
  diagnosticsChannel.subscribe(name, listener);
  return { messages, stop: () => diagnosticsChannel.unsubscribe(name, listener) };
}

async function withRemote(run: (remote: SignedRemote, cacheDir: string) => Promise<void>): Promise<void> {
  await using remote = await createSignedRemote();
  await using cache = await createTempProject({});
  await run(remote, cache.dir);
}

/** Fills the cache: one host imports the remote once and is closed (its watchers would write into the cache later). */
/** Publishes release 2 (version 1.1.0, `answer` 43), serves the folder again on `port`, waits until `host` runs it. */
async function comeBackWithNewRelease(
  remote: SignedRemote,
  port: number,
  host: ReturnType<typeof createHost>,
  events: unknown[],
): Promise<Awaited<ReturnType<typeof serveFolder>>> {
  await remote.publish({
    release: 2,
    version: '1.1.0',
    exposes: { './x': { code: `${remote.canary}exports.answer = 43;\n` } },
  });
  const served = await serveFolder(remote.project.dir, port);
  for (const deadline = Date.now() + 10_000; host.loadedVersion('authService') !== '1.1.0'; ) {
    assert.ok(Date.now() < deadline, `not picked up: ${JSON.stringify(events)}`);
    await sleep(20);
  }
  return served;
}

async function importOnce(options: Parameters<typeof createHost>[0]): Promise<void> {
  const host = createHost(options);
  try {
    await host.import('authService/x');
  } finally {
    await host.close();
  }
}

describe('the disk cache', () => {
  test('verified files are stored by content, atomically; an unchanged remote then costs a 304 and no file bytes', () =>
    withRemote(async (remote, cacheDir) => {
      const served = await serveFolder(remote.project.dir);
      try {
        const options = {
          name: 'h',
          remotes: { authService: { url: `${served.url}mf-manifest.json`, publicKey: remote.publicKey } },
          cache: { dir: cacheDir },
          ...quiet,
        };
        const first = createHost(options);
        assert.equal((await first.import<{ answer: number }>('authService/x')).answer, 42);
        await first.close();
        const stored = await readdir(join(cacheDir, 'files'));
        const manifest = JSON.parse(await readFile(join(remote.project.dir, 'mf-manifest.json'), 'utf8'));
        for (const [name, entry] of Object.entries(manifest.ferry.files as Record<string, { integrity: string }>)) {
          if (name.endsWith('.js')) {
            const key = entry.integrity.slice(7).replaceAll('+', '-').replaceAll('/', '_');
            assert.ok(stored.includes(key), `${name} is stored under its hash`);
          }
        }
        assert.ok(!stored.some((path) => path.endsWith('.tmp')), 'no temporary files are left');

        served.log.length = 0;
        remote.resetRuns();
        const second = createHost(options);
        assert.equal((await second.import<{ answer: number }>('authService/x')).answer, 42);
        await second.close();
        assert.deepEqual(
          served.log.map(({ path, status }) => `${path} ${status}`),
          ['/mf-manifest.json 304'],
          'one conditional request, no file and no signature bytes',
        );
        assert.match(served.log[0]!.ifNoneMatch ?? '', /^"sha384-/);
        assert.equal(remote.runs(), 2, 'the cached copy ran (container and expose)');
      } finally {
        await served.close();
      }
    }));

  test('a corrupted cache entry is deleted and fetched again, never run', () =>
    withRemote(async (remote, cacheDir) => {
      const served = await serveFolder(remote.project.dir);
      try {
        const options = {
          name: 'h',
          remotes: { authService: `${served.url}mf-manifest.json` },
          cache: { dir: cacheDir },
        };
        await importOnce({ ...options, ...quiet });
        const manifest = JSON.parse(await readFile(join(remote.project.dir, 'mf-manifest.json'), 'utf8'));
        const file = manifest.ferry.exposes['./x'].file as string;
        const integrity = manifest.ferry.files[file].integrity as string;
        const key = integrity.slice(7).replaceAll('+', '-').replaceAll('/', '_');
        const path = join(cacheDir, 'files', key);
        const original = await readFile(path);
        const evil = Buffer.from(
          'globalThis.__ferryCorruptRan = true; exports.answer = 666;'.padEnd(original.length, ' '),
        );
        await writeFile(path, evil.subarray(0, original.length));

        served.log.length = 0;
        const warnings: string[] = [];
        const host = createHost({ ...options, onWarning: (w) => warnings.push(w.code) });
        assert.equal((await host.import<{ answer: number }>('authService/x')).answer, 42);
        await host.close();
        assert.equal((globalThis as { __ferryCorruptRan?: boolean }).__ferryCorruptRan, undefined);
        assert.ok(warnings.includes('FERRY_CACHE_ENTRY_CORRUPT'), warnings.join(', '));
        assert.deepEqual(
          files(served.log).map((entry) => entry.path),
          [`/${file}`],
          'only the corrupt file is fetched',
        );
        assert.equal(integrityOf(await readFile(path)), integrity, 'the entry is replaced by the verified bytes');
      } finally {
        await served.close();
      }
    }));
});

describe('stale-if-error', () => {
  test('a host restarted while the remote is down serves its cached copy, says so, and picks the remote up when it is back', () =>
    withRemote(async (remote, cacheDir) => {
      let served = await serveFolder(remote.project.dir);
      const url = `${served.url}mf-manifest.json`;
      const options = {
        name: 'h',
        remotes: { authService: { url, publicKey: remote.publicKey } },
        cache: { dir: cacheDir },
        retry: { attempts: 2, baseDelay: 20, maxDelay: 100 },
        breaker: { failureThreshold: 2, cooldown: 200 },
      };
      await importOnce({ ...options, ...quiet });
      await served.close();

      const cache = collect<{ event: string; ageMs: number; version: string }>('ferry:cache');
      const warnings: Array<{ code: string; message: string }> = [];
      const host = createHost({ ...options, onWarning: (w) => warnings.push(w) });
      try {
        const started = performance.now();
        assert.equal((await host.import<{ answer: number }>('authService/x')).answer, 42);
        assert.ok(performance.now() - started < 1500, 'the cache answers without waiting long for the remote');
        const stale = warnings.filter((w) => w.code === 'FERRY_STALE_CACHE');
        assert.equal(stale.length, 1, 'one log line');
        assert.match(stale[0]!.message, /unavailable \(ERR_FERRY_NETWORK.*version 1\.0\.0 from the host's cache.* ago/);
        assert.equal(cache.messages[0]?.event, 'stale');
        assert.ok((cache.messages[0]?.ageMs ?? -1) >= 0);
        const status = host.remotes().authService!;
        assert.equal(status.source, 'cache');
        assert.ok((status.staleForMs ?? -1) >= 0);
        assert.equal(status.lastError?.code, 'ERR_FERRY_NETWORK');
        // More imports keep being served, from memory.
        assert.equal((await host.import<{ answer: number }>('authService/x')).answer, 42);

        // The remote comes back on the same port with a new release: the background refresh (or the push channel,
        // whichever reconnects first) finds it, and it goes live through verify-then-swap.
        served = await comeBackWithNewRelease(remote, served.port, host, cache.messages);
        assert.equal((await host.import<{ answer: number }>('authService/x')).answer, 43);
        assert.equal(host.remotes().authService!.source, 'network');
        assert.equal(host.remotes().authService!.breaker?.state, 'closed');
      } finally {
        cache.stop();
        await host.close();
        await served.close();
      }
    }));

  test('a remote that comes back with a new build is published as refreshed once, also when a poll finds it first', () =>
    withRemote(async (remote, cacheDir) => {
      let served = await serveFolder(remote.project.dir);
      const url = `${served.url}mf-manifest.json`;
      // Polling every 50 ms, no push: a live-update poll reaches the returning remote long before the background
      // refresh (its first attempt is 0.5–1 s after the stale start).
      const options = {
        name: 'h',
        remotes: { authService: url },
        cache: { dir: cacheDir },
        retry: false as const,
        ...quiet,
      };
      await importOnce(options);
      await served.close();
      const cache = collect<{ event: string; version: string }>('ferry:cache');
      const host = createHost({ ...options, live: { push: false, pollInterval: 50 } });
      try {
        assert.equal((await host.import<{ answer: number }>('authService/x')).answer, 42);
        served = await comeBackWithNewRelease(remote, served.port, host, cache.messages);
        // Long enough for the background refresh to have run too, had it not been called off.
        await sleep(1200);
        assert.deepEqual(
          cache.messages.map((m) => `${m.event} ${m.version}`),
          ['stale 1.0.0', 'refreshed 1.1.0'],
        );
        assert.equal(host.remotes().authService!.source, 'network');
      } finally {
        cache.stop();
        await host.close();
        await served.close();
      }
    }));

  test('a remote that comes back unchanged is revalidated with a 304, costing no file bytes', () =>
    withRemote(async (remote, cacheDir) => {
      let served = await serveFolder(remote.project.dir);
      const options = {
        name: 'h',
        remotes: { authService: `${served.url}mf-manifest.json` },
        cache: { dir: cacheDir },
        retry: false as const,
        ...quiet,
      };
      await createHost(options).import('authService/x');
      await served.close();
      const cache = collect<{ event: string }>('ferry:cache');
      const host = createHost(options);
      try {
        await host.import('authService/x');
        served = await serveFolder(remote.project.dir, served.port);
        for (const deadline = Date.now() + 10_000; !cache.messages.some((m) => m.event === 'revalidated'); ) {
          assert.ok(Date.now() < deadline, `no revalidation: ${JSON.stringify(cache.messages)}`);
          await sleep(50);
        }
        assert.deepEqual(
          served.log.map(({ path, status }) => `${path} ${status}`),
          ['/mf-manifest.json 304'],
        );
        assert.equal(host.remotes().authService!.source, 'network');
      } finally {
        cache.stop();
        await host.close();
        await served.close();
      }
    }));

  test('staleIfError: false answers with the error; a wrong answer is never replaced by the cache', () =>
    withRemote(async (remote, cacheDir) => {
      const served = await serveFolder(remote.project.dir);
      const url = `${served.url}mf-manifest.json`;
      await importOnce({ name: 'h', remotes: { authService: url }, cache: { dir: cacheDir }, ...quiet });
      await served.close();
      const off = createHost({
        name: 'h',
        remotes: { authService: url },
        cache: { dir: cacheDir, staleIfError: false },
        retry: false,
        ...quiet,
      });
      await assert.rejects(off.import('authService/x'), NetworkError);
      const perRemote = createHost({
        name: 'h',
        remotes: { authService: { url, cache: { staleIfError: false }, retry: false } },
        cache: { dir: cacheDir },
        ...quiet,
      });
      await assert.rejects(perRemote.import('authService/x'), NetworkError);
    }));
});

describe('requests', () => {
  test('concurrent imports are coalesced: one manifest request and one request per file', () =>
    withRemote(async (remote, cacheDir) => {
      const served = await serveFolder(remote.project.dir);
      try {
        const host = createHost({
          name: 'h',
          remotes: { authService: `${served.url}mf-manifest.json` },
          cache: { dir: cacheDir },
          ...quiet,
        });
        const results = await Promise.all(
          Array.from({ length: 10 }, () => host.import<{ answer: number }>('authService/x')),
        );
        assert.ok(results.every((r) => r.answer === 42));
        const paths = served.log.map((entry) => entry.path);
        assert.equal(paths.filter((path) => path === '/mf-manifest.json').length, 1);
        assert.equal(new Set(paths).size, paths.length, `each file once: ${paths.join(', ')}`);
      } finally {
        await served.close();
      }
    }));

  test('backoff is capped exponential with full jitter; Retry-After is honoured and capped; what is retried', () => {
    const policy = { attempts: 5, baseDelay: 100, maxDelay: 1000 };
    for (let attempt = 0; attempt < 8; attempt++) {
      const ceiling = Math.min(1000, 100 * 2 ** attempt);
      for (let i = 0; i < 200; i++) {
        const wait = retryDelay(policy, attempt, undefined);
        assert.ok(wait >= 0 && wait < ceiling, `attempt ${attempt}: ${wait}`);
      }
    }
    assert.equal(retryDelay(policy, 0, 700), 700);
    assert.equal(retryDelay(policy, 0, 60_000), 1000);
    assert.equal(parseRetryAfter('3', 0), 3000);
    assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4000), 6000);
    assert.equal(parseRetryAfter('soon', 0), undefined);
    assert.equal(parseRetryAfter(null, 0), undefined);
    for (const code of [408, 429, 500, 502, 503, 504])
      assert.ok(isRetryable(new HttpStatusError('x', { status: code })), String(code));
    for (const code of [400, 401, 403, 404, 410])
      assert.ok(!isRetryable(new HttpStatusError('x', { status: code })), String(code));
    assert.ok(isRetryable(new NetworkError('x')));
    assert.ok(isRetryable(new TimeoutError('x', { phase: 'connect' })));
    assert.ok(!isRetryable(new TimeoutError('x', { phase: 'headers' })), 'a stalled remote is not hammered');
    assert.ok(!isRetryable(new IntegrityError('x')));
  });

  test('the circuit breaker opens after repeated failures, is visible, and probes after its cooling period', () =>
    withRemote(async (remote, cacheDir) => {
      let served = await serveFolder(remote.project.dir);
      const port = served.port;
      await served.close();
      const breaker = collect<{ remote: string; state: string }>('ferry:breaker');
      const host = createHost({
        name: 'h',
        remotes: { authService: `http://127.0.0.1:${port}/mf-manifest.json` },
        cache: { dir: cacheDir },
        retry: false,
        breaker: { failureThreshold: 2, cooldown: 300 },
        ...quiet,
      });
      try {
        await assert.rejects(host.import('authService/x'), NetworkError);
        assert.equal(host.remotes().authService!.breaker?.state, 'closed');
        await assert.rejects(host.import('authService/x'), NetworkError);
        assert.equal(host.remotes().authService!.breaker?.state, 'open');
        const started = performance.now();
        await assert.rejects(
          host.import('authService/x'),
          (e: unknown) => e instanceof CircuitOpenError && e.remote === 'authService',
        );
        assert.ok(performance.now() - started < 50, 'an open breaker fails at once');
        assert.deepEqual(
          breaker.messages.filter((m) => m.remote === 'authService').map((m) => m.state),
          ['open'],
        );

        served = await serveFolder(remote.project.dir, port);
        await sleep(350);
        assert.equal((await host.import<{ answer: number }>('authService/x')).answer, 42);
        assert.deepEqual(
          breaker.messages.filter((m) => m.remote === 'authService').map((m) => m.state),
          ['open', 'half-open', 'closed'],
        );
        assert.equal(served.log[0]?.path, '/mf-manifest.json', 'the open breaker made no request');
      } finally {
        breaker.stop();
        await host.close();
        await served.close();
      }
    }));

  test('the whole import has a deadline: retries and waits stop there', () =>
    withRemote(async (remote, cacheDir) => {
      remote.server.override = (_req, res) => {
        res.writeHead(503, { 'retry-after': '0' }).end();
        return true;
      };
      const host = createHost({
        name: 'h',
        remotes: { authService: remote.manifestUrl },
        cache: { dir: cacheDir },
        timeouts: { import: 400 },
        retry: { attempts: 1000, baseDelay: 30, maxDelay: 30 },
        breaker: false,
        ...quiet,
      });
      const started = performance.now();
      await assert.rejects(
        host.import('authService/x'),
        (e: unknown) => e instanceof HttpStatusError || (e instanceof TimeoutError && e.phase === 'import'),
      );
      const elapsed = performance.now() - started;
      assert.ok(elapsed < 400 * 1.1 + 150, `settled after ${elapsed} ms`);
      assert.ok(remote.server.requests.length > 3, 'it retried meanwhile');
    }));
});

describe('fallbacks', () => {
  test('a local module serves an expose when neither the remote nor the cache can, and says so', async () => {
    await using project = await createTempProject({ 'local-x.mjs': 'export const answer = "local file";\n' });
    const fallbacks = collect<{ expose: string; error: Error }>('ferry:fallback');
    const warnings: string[] = [];
    const down = 'http://127.0.0.1:9/mf-manifest.json';
    try {
      const byFunction = createHost({
        name: 'h',
        remotes: {
          authService: { url: down, fallback: { './x': () => ({ answer: 'local function' }) }, retry: false },
        },
        cache: { dir: project.path('cache') },
        onWarning: (w) => warnings.push(w.code),
      });
      assert.deepEqual(await byFunction.import('authService/x'), { answer: 'local function' });
      await assert.rejects(byFunction.import('authService/y'), NetworkError, 'other exposes have no fallback');
      assert.ok(warnings.includes('FERRY_FALLBACK_USED'));
      assert.equal(fallbacks.messages[0]?.expose, './x');
      assert.ok(fallbacks.messages[0]?.error instanceof NetworkError);

      const byPath = createHost({
        name: 'h',
        remotes: { authService: { url: down, fallback: 'local-x.mjs', retry: false } },
        root: project.dir,
        cache: { dir: project.path('cache') },
        ...quiet,
      });
      assert.equal((await byPath.import<{ answer: string }>('authService/anything')).answer, 'local file');
    } finally {
      fallbacks.stop();
    }
  });
});

describe('options', () => {
  test('availability options are validated by name, on the host and per remote', () => {
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ timeouts: { import: -1 } }, /timeouts\.import/],
      [{ timeouts: { connect: 'soon' } }, /timeouts\.connect/],
      [{ retry: { attempts: 0 } }, /retry\.attempts/],
      [{ retry: { tries: 3 } }, /retry\.tries is not a known option/],
      [{ breaker: { threshold: 3 } }, /breaker\.threshold is not a known option/],
      [{ cache: { staleIfError: 'yes' } }, /cache\.staleIfError/],
      [
        { remotes: { authService: { url: 'http://127.0.0.1:1/', timeouts: { headers: 0 } } } },
        /remotes\.authService\.timeouts\.headers/,
      ],
      [{ remotes: { authService: { url: 'http://127.0.0.1:1/', fallback: 42 } } }, /remotes\.authService\.fallback/],
      [{ remotes: { authService: { url: 'http://127.0.0.1:1/', fallback: { x: 'a.js' } } } }, /expose keys/],
    ];
    for (const [options, pattern] of bad) {
      assert.throws(
        () => createHost({ name: 'h', remotes: { authService: 'http://127.0.0.1:1/' }, ...options } as never),
        (e: unknown) => e instanceof InvalidOptionError && pattern.test(e.message),
        JSON.stringify(options),
      );
    }
  });
});
