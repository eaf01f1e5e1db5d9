/**
 * The fault matrix: one case per way a remote can fail, served by a real loopback server, each run twice — on a
 * host with an empty cache (a typed error is the answer) and on a host whose cache holds a verified copy (the copy is
 * the answer when the remote is unavailable; a remote that answers wrongly is still an error). Every case must settle
 * within the import deadline × 1.1 plus ALLOWANCE_MS, evaluate nothing the faulty response carried, leave no
 * unhandled rejection, and leave no socket or timer behind (process.getActiveResourcesInfo() before and after).
 *
 * ALLOWANCE_MS (150 ms) is the fixed allowance for work after the deadline that is not waiting: reading and hashing
 * the cached copy, evaluating it, and the scheduling noise of two shared, busy cores.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createHost,
  FerryError,
  HttpStatusError,
  InvalidManifestError,
  ManifestMismatchError,
  NetworkError,
  ResponseTooLargeError,
  TimeoutError,
} from '../src/index.ts';
import { writeRemoteOutput } from './helpers/remote-output.ts';
import { createTempProject, type TempProject } from './helpers/temp-project.ts';
import { createSignedRemote, type SignedRemote } from './helpers/trust-fixture.ts';

const IMPORT_TIMEOUT = 1500;
const ALLOWANCE_MS = 150;
const HOST_DEADLINES = {
  timeouts: { import: IMPORT_TIMEOUT, connect: 500, headers: 500, body: 500, request: 1000 },
  retry: { attempts: 3, baseDelay: 50, maxDelay: 1000 },
  breaker: false as const,
};

type Expect = 'cached' | ((error: unknown) => boolean);

interface FaultCase {
  name: string;
  /** Installs the fault on the remote (its server, or closes it). */
  fault(remote: SignedRemote): void | Promise<void>;
  /** The answer without a cached copy. */
  cold: (error: unknown) => boolean;
  /** The answer with a cached copy. */
  warm: Expect;
  /** More to check: the manifest requests the remote saw and how long the import took. */
  check?(manifestRequests: number, elapsed: number, mode: 'cold' | 'warm'): void;
}

const manifestOnly = (url: string | undefined) => new URL(url ?? '/', 'http://x').pathname === '/mf-manifest.json';
const status = (code: number) => (e: unknown) => e instanceof HttpStatusError && e.status === code;
const timeout = (phase: string) => (e: unknown) => e instanceof TimeoutError && e.phase === phase;
const intervals = new Set<NodeJS.Timeout>();

let other: { dir: TempProject; manifest: Buffer };

const cases: FaultCase[] = [
  {
    name: 'refused connection',
    fault: async (remote) => {
      await remote.server.close();
      remote.server.close = async () => {};
    },
    cold: (e) => e instanceof NetworkError,
    warm: 'cached',
  },
  {
    name: 'accept-and-hang',
    fault: (remote) => {
      remote.server.override = () => true; // the request is read, and never answered
    },
    cold: timeout('headers'),
    warm: 'cached',
  },
  {
    name: 'stall after headers',
    fault: (remote) => {
      remote.server.override = (req, res) => {
        if (!manifestOnly(req.url)) return false;
        res.writeHead(200, { 'content-length': 4000 });
        res.flushHeaders();
        return true;
      };
    },
    cold: timeout('body'),
    warm: 'cached',
  },
  {
    name: 'drip one byte at a time',
    fault: (remote) => {
      remote.server.override = (req, res) => {
        if (!manifestOnly(req.url)) return false;
        res.writeHead(200, { 'content-length': 4000 });
        const drip = setInterval(() => res.write('{'), 20);
        intervals.add(drip);
        res.once('close', () => clearInterval(drip));
        return true;
      };
    },
    cold: timeout('body'),
    warm: 'cached',
  },
  {
    name: 'reset mid-body',
    fault: (remote) => {
      remote.server.override = (req, res) => {
        if (!manifestOnly(req.url)) return false;
        res.writeHead(200, { 'content-length': 4000 });
        res.write('{"id": "authService", ', () => req.socket.resetAndDestroy());
        return true;
      };
    },
    cold: (e) => e instanceof NetworkError,
    warm: 'cached',
  },
  {
    name: 'truncated body',
    fault: (remote) => {
      remote.server.override = (req, res) => {
        if (!manifestOnly(req.url)) return false;
        res.writeHead(200, { 'content-length': 4000 });
        res.write('{"id": "authService", ', () => req.socket.end());
        return true;
      };
    },
    cold: (e) => e instanceof NetworkError,
    warm: 'cached',
  },
  {
    name: 'body far larger than declared',
    fault: (remote) => {
      remote.server.override = (req, res) => {
        if (!/\/x\.[^/]+\.js$/.test(req.url ?? '')) return false;
        res.writeHead(200); // chunked: 8 MiB for a file whose manifest declares a few dozen bytes
        res.end(Buffer.alloc(8 * 1024 * 1024, 0x20));
        return true;
      };
    },
    cold: (e) => e instanceof ResponseTooLargeError,
    warm: (e) => e instanceof ResponseTooLargeError,
  },
  {
    name: '404 HTML',
    fault: (remote) => {
      remote.server.override = (req, res) => {
        if (!manifestOnly(req.url)) return false;
        res.writeHead(404, { 'content-type': 'text/html' }).end('<html><body>Not found</body></html>');
        return true;
      };
    },
    cold: status(404),
    warm: status(404),
    check: (requests) => assert.equal(requests, 1, 'a 404 is not retried'),
  },
  {
    name: '500',
    fault: (remote) => {
      remote.server.override = (req, res) => {
        if (!manifestOnly(req.url)) return false;
        res.writeHead(500).end('oops');
        return true;
      };
    },
    cold: status(500),
    warm: 'cached',
    check: (requests, _elapsed, mode) =>
      mode === 'cold'
        ? assert.equal(requests, 3, 'a 500 is retried (3 attempts)')
        : assert.equal(requests, 1, 'with a verified copy the import does not wait out retries'),
  },
  {
    name: '503 with Retry-After',
    fault: (remote) => {
      remote.server.override = (req, res) => {
        if (!manifestOnly(req.url)) return false;
        res.writeHead(503, { 'retry-after': '1' }).end('busy');
        return true;
      };
    },
    cold: status(503),
    warm: 'cached',
    check(requests, elapsed, mode) {
      if (mode === 'warm') {
        // A verified copy is served at once; the background refresh honours Retry-After.
        assert.equal(requests, 1);
        assert.ok(elapsed < 900, `served from the cache after ${Math.round(elapsed)} ms`);
        return;
      }
      // Retry-After: 1 was waited for once; a second wait would pass the import deadline, so it gave up instead.
      assert.equal(requests, 2);
      assert.ok(elapsed >= 950, `retried after ${Math.round(elapsed)} ms, before Retry-After`);
    },
  },
  {
    name: '429',
    fault: (remote) => {
      remote.server.override = (req, res) => {
        if (!manifestOnly(req.url)) return false;
        res.writeHead(429).end('slow down');
        return true;
      };
    },
    cold: status(429),
    warm: 'cached',
  },
  {
    name: 'malformed manifest JSON',
    fault: (remote) => {
      remote.server.override = (req, res) => {
        if (!manifestOnly(req.url)) return false;
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"id": "authService", "name": ');
        return true;
      };
    },
    cold: (e) => e instanceof InvalidManifestError,
    warm: (e) => e instanceof InvalidManifestError,
    check: (requests) => assert.equal(requests, 1, 'a malformed manifest is not retried'),
  },
  {
    name: "manifest of another remote's name",
    fault: (remote) => {
      remote.server.override = (req, res) => {
        if (!manifestOnly(req.url)) return false;
        res.writeHead(200, { 'content-type': 'application/json' }).end(other.manifest);
        return true;
      };
    },
    cold: (e) => e instanceof ManifestMismatchError,
    warm: (e) => e instanceof ManifestMismatchError,
  },
];

/** Sockets and timers alive now, by kind (what a leak would add to). */
function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) {
    if (/Socket|TCP|Timeout|Immediate/i.test(kind)) counts[kind] = (counts[kind] ?? 0) + 1;
  }
  return counts;
}

/** Waits (a little) for closing handles to go, then returns what is left. */
async function settledResources(baseline: Record<string, number>): Promise<Record<string, number>> {
  let now = resources();
  for (let i = 0; i < 50 && JSON.stringify(now) !== JSON.stringify(baseline); i++) {
    await sleep(10);
    now = resources();
  }
  return now;
}

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

before(async () => {
  process.on('unhandledRejection', onUnhandled);
  const dir = await createTempProject({});
  const { bytes } = await writeRemoteOutput(dir.dir, {
    name: 'otherService',
    exposes: { './x': { code: 'globalThis.__ferryOtherRan = true;\n' } },
  });
  other = { dir, manifest: bytes };
});
after(async () => {
  process.off('unhandledRejection', onUnhandled);
  await other.dir.remove();
});

for (const mode of ['cold', 'warm'] as const) {
  describe(`fault matrix, ${mode === 'cold' ? 'empty cache: typed errors' : 'verified copy in the cache: stale-if-error'}`, () => {
    for (const fault of cases) {
      test(fault.name, async () => {
        const baseline = resources();
        await using cache = await createTempProject({});
        const remote = await createSignedRemote();
        let disposed = false;
        const dispose = async () => {
          if (disposed) return;
          disposed = true;
          for (const drip of intervals) clearInterval(drip);
          remote.server.override = undefined;
          await remote[Symbol.asyncDispose]();
        };
        try {
          const options = {
            name: 'h',
            remotes: { authService: remote.manifestUrl },
            cache: { dir: cache.dir },
            ...HOST_DEADLINES,
          };
          if (mode === 'warm') {
            const warmup = createHost({ ...options, onWarning: () => {} });
            assert.equal((await warmup.import<{ answer: number }>('authService/x')).answer, 42);
            await warmup.close();
          }
          remote.resetRuns();
          await fault.fault(remote);
          const warnings: string[] = [];
          const host = createHost({ ...options, onWarning: (w) => warnings.push(w.code) });

          const before = remote.server.requests.filter((path) => path === '/mf-manifest.json').length;
          const started = performance.now();
          const outcome = await host.import<{ answer: number }>('authService/x').then(
            (exports) => ({ exports }),
            (error: unknown) => ({ error }),
          );
          const elapsed = performance.now() - started;
          await host.close();
          fault.check?.(
            remote.server.requests.filter((path) => path === '/mf-manifest.json').length - before,
            elapsed,
            mode,
          );

          assert.ok(
            elapsed <= IMPORT_TIMEOUT * 1.1 + ALLOWANCE_MS,
            `settled after ${Math.round(elapsed)} ms, past the deadline ${IMPORT_TIMEOUT} ms × 1.1 + ${ALLOWANCE_MS} ms`,
          );
          const expected = mode === 'cold' ? fault.cold : fault.warm;
          if (expected === 'cached') {
            assert.ok(
              'exports' in outcome,
              `expected the cached copy, got ${String((outcome as { error: unknown }).error)}`,
            );
            assert.equal(outcome.exports.answer, 42);
            assert.ok(warnings.includes('FERRY_STALE_CACHE'), `warnings: ${warnings.join(', ')}`);
            // Only the verified cached copy ran (container + expose), nothing the faulty response carried.
            assert.equal(remote.runs(), 2);
          } else {
            assert.ok('error' in outcome, 'expected a typed error, the import succeeded');
            assert.ok(outcome.error instanceof FerryError, `untyped: ${String(outcome.error)}`);
            assert.ok(
              expected(outcome.error),
              `${fault.name}: got ${(outcome.error as Error).name}: ${(outcome.error as Error).message}`,
            );
            assert.equal(remote.runs(), 0, 'remote code ran');
          }
          assert.equal((globalThis as { __ferryOtherRan?: boolean }).__ferryOtherRan, undefined);

          // The remote side lets go of its connections first, so only the host's could be left.
          await dispose();
          assert.deepEqual(await settledResources(baseline), baseline, 'sockets or timers left behind');
          await sleep(0);
          assert.deepEqual(unhandled, [], 'unhandled rejections');
        } finally {
          await dispose();
        }
      });
    }
  });
}
