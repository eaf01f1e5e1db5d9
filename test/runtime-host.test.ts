import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  createHost,
  EvaluationError,
  type FerryError,
  HostClosedError,
  HttpStatusError,
  IntegrityError,
  InvalidOptionError,
  InvalidSpecifierError,
  ManifestMismatchError,
  NetworkError,
  ResponseTooLargeError,
  SharedUnavailableError,
  TimeoutError,
  UndeclaredDependencyError,
  UnknownExposeError,
  UnknownRemoteError,
} from '../src/index.ts';
import { resolveHostOptions } from '../src/runtime/options/host-options.ts';
import { startLoopback } from './helpers/loopback.ts';
import { writeRemoteOutput } from './helpers/remote-output.ts';
import { createTempProject, REPO_ROOT } from './helpers/temp-project.ts';

const canaries = globalThis as unknown as Record<string, unknown>;
let counter = 0;
/** Remote code that records it ran, so tests can prove that nothing was evaluated. */
function canaryModule(body = 'exports.answer = 42;'): { code: string; ran: () => boolean } {
  const key = `__ferryCanary${process.pid}_${counter++}`;
  return { code: `globalThis[${JSON.stringify(key)}] = true;\n${body}\n`, ran: () => canaries[key] === true };
}

// The hosts here get a fresh cache folder (cache.dir, passed with `quiet`), so a copy cached by an earlier run for a
// loopback port that happens to be reused cannot answer for a remote a test takes down (stale-if-error).
const cacheDir = mkdtempSync(join(tmpdir(), 'ferry-runtime-host-cache-'));
after(() => rmSync(cacheDir, { recursive: true, force: true }));
const quiet = { onWarning: () => {}, cache: { dir: cacheDir } };

async function setup(exposes: Parameters<typeof writeRemoteOutput>[1]['exposes'], extra = {}) {
  const project = await createTempProject({});
  const output = await writeRemoteOutput(project.dir, { name: 'authService', exposes, ...extra });
  const server = await startLoopback(project.dir);
  const cleanup = async () => {
    await server.close();
    await project.remove();
  };
  return { project, server, output, cleanup };
}

describe('host.import', () => {
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const cleanup of cleanups) await cleanup();
  });

  test('loads an exposed module, fetching each file once for concurrent imports', async () => {
    const canary = canaryModule('exports.validate = (t) => t === "ok";');
    const { server, cleanup } = await setup({ './tokenValidator': { code: canary.code } });
    cleanups.push(cleanup);
    await using host = createHost({
      name: 'userService',
      remotes: { authService: `authService@${server.url}mf-manifest.json` },
      ...quiet,
    });
    const results = await Promise.all(
      Array.from({ length: 5 }, () => host.import<{ validate(t: string): boolean }>('authService/tokenValidator')),
    );
    assert.ok(
      results.every((r) => r === results[0]),
      'one module instance',
    );
    assert.equal(results[0]!.validate('ok'), true);
    assert.equal(canary.ran(), true);
    const counts = Object.groupBy(server.requests, (path) => path);
    for (const [path, hits] of Object.entries(counts)) assert.equal(hits!.length, 1, `${path} fetched once`);
    assert.equal(host.loadedVersion('authService'), '1.0.0');
    await host.close();
  });

  test('close() during an import: the import rejects with HostClosedError and nothing of the remote runs or stays', async () => {
    const canary = canaryModule('exports.answer = 42;');
    const { server, cleanup } = await setup({ './tokenValidator': { code: canary.code } });
    cleanups.push(cleanup);
    await using host = createHost({
      name: 'userService',
      remotes: { authService: `authService@${server.url}mf-manifest.json` },
      ...quiet,
    });
    const pending = host.import('authService/tokenValidator');
    await host.close();
    const error = await pending.catch((e: unknown) => e);
    assert.ok(error instanceof HostClosedError, String(error));
    assert.equal(error.code, 'ERR_FERRY_HOST_CLOSED');
    assert.equal(canary.ran(), false, 'no remote code ran after close()');
    assert.equal(host.loadedVersion('authService'), undefined);
    const later = await host.import('authService/tokenValidator').catch((e: unknown) => e);
    assert.ok(later instanceof HostClosedError);
  });

  test('a 404 HTML page for a file is never evaluated and fails with a typed error naming remote, URL and expose', async () => {
    const canary = canaryModule();
    const { server, output, cleanup } = await setup({ './tokenValidator': { code: canary.code } });
    cleanups.push(cleanup);
    const file = output.manifest.ferry.exposes['./tokenValidator']!.file;
    server.override = (req, res) => {
      if (!req.url?.endsWith(file)) return false;
      res.writeHead(404, { 'content-type': 'text/html' }).end('<html>globalThis.x = 1</html>');
      return true;
    };
    await using host = createHost({
      name: 'userService',
      remotes: { authService: `${server.url}mf-manifest.json` },
      ...quiet,
    });
    const error = await host.import('authService/tokenValidator').catch((e: unknown) => e);
    assert.ok(error instanceof HttpStatusError, String(error));
    assert.equal(error.code, 'ERR_FERRY_HTTP_STATUS');
    assert.equal(error.status, 404);
    assert.equal(error.remote, 'authService');
    assert.match(error.message, new RegExp(file.replaceAll('.', '\\.')));
    assert.match(error.message, /authService\/tokenValidator/);
    assert.equal(canary.ran(), false);
  });

  test('a 500 for the manifest is a typed error and nothing runs', async () => {
    const canary = canaryModule();
    const { server, cleanup } = await setup({ './x': { code: canary.code } });
    cleanups.push(cleanup);
    server.override = (_req, res) => {
      res.writeHead(500).end('oops');
      return true;
    };
    await using host = createHost({ name: 'h', remotes: { authService: `${server.url}mf-manifest.json` }, ...quiet });
    await assert.rejects(
      host.import('authService/x'),
      (e: unknown) => e instanceof HttpStatusError && e.status === 500,
    );
    assert.equal(canary.ran(), false);
  });

  test('bytes that differ from the manifest are refused (same length, and a 200 HTML page)', async () => {
    const canary = canaryModule();
    const { server, output, cleanup } = await setup({ './x': { code: canary.code } });
    cleanups.push(cleanup);
    const file = output.manifest.ferry.exposes['./x']!.file;
    const tampered = Buffer.from(canary.code.replace('42', '43'));
    for (const body of [tampered, Buffer.from('<html>Not found</html>')]) {
      server.override = (req, res) => {
        if (!req.url?.endsWith(file)) return false;
        res.writeHead(200, { 'content-length': body.byteLength }).end(body);
        return true;
      };
      await using host = createHost({ name: 'h', remotes: { authService: `${server.url}mf-manifest.json` }, ...quiet });
      const error = await host.import('authService/x').catch((e: unknown) => e);
      assert.ok(error instanceof IntegrityError, String(error));
      assert.equal(error.file, file);
      assert.equal(canary.ran(), false);
    }
  });

  test('a body longer than the declared size is cut off and refused', async () => {
    const canary = canaryModule();
    const { server, output, cleanup } = await setup({ './x': { code: canary.code } });
    cleanups.push(cleanup);
    const file = output.manifest.ferry.exposes['./x']!.file;
    server.override = (req, res) => {
      if (!req.url?.endsWith(file)) return false;
      res.writeHead(200);
      res.end(Buffer.alloc(10 * 1024 * 1024, 0x20));
      return true;
    };
    await using host = createHost({ name: 'h', remotes: { authService: `${server.url}mf-manifest.json` }, ...quiet });
    await assert.rejects(host.import('authService/x'), ResponseTooLargeError);
    assert.equal(canary.ran(), false);
  });

  test('a remote that accepts and never answers fails within the deadline', async () => {
    const sockets = new Set<import('node:net').Socket>();
    const silent = createServer((socket) => sockets.add(socket)).listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const { port } = silent.address() as import('node:net').AddressInfo;
    await using host = createHost({
      name: 'h',
      remotes: { authService: `http://127.0.0.1:${port}/mf-manifest.json` },
      timeouts: { request: 300 },
      ...quiet,
    });
    const started = performance.now();
    await assert.rejects(host.import('authService/x'), TimeoutError);
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 300 * 1.1 + 200, `settled after ${elapsed} ms`);
    for (const socket of sockets) socket.destroy();
    silent.close();
  });

  test('a refused connection is a NetworkError, and the remote is picked up when it comes back', async () => {
    const canary = canaryModule();
    const { server, cleanup } = await setup({ './x': { code: canary.code } });
    cleanups.push(cleanup);
    let down = true;
    server.override = (req) => {
      if (down) req.socket.destroy();
      return down;
    };
    await using host = createHost({ name: 'h', remotes: { authService: `${server.url}mf-manifest.json` }, ...quiet });
    await assert.rejects(host.import('authService/x'), NetworkError);
    down = false;
    assert.deepEqual({ ...(await host.import('authService/x')) }, { answer: 42 });
  });

  test('remote code cannot reach packages that are not builtins or shared', async () => {
    const { server, cleanup } = await setup({ './x': { code: 'exports.semver = require("semver");' } });
    cleanups.push(cleanup);
    await using host = createHost({ name: 'h', remotes: { authService: `${server.url}mf-manifest.json` }, ...quiet });
    const error = await host.import('authService/x').catch((e: unknown) => e);
    assert.ok(error instanceof UndeclaredDependencyError, String(error));
    assert.match(error.message, /"semver"/);
    const ok = await setup({
      './y': { code: 'exports.sep = require("node:path").sep; exports.fs = typeof require("fs").readFile;' },
    });
    cleanups.push(ok.cleanup);
    await using host2 = createHost({
      name: 'h',
      remotes: { authService: `${ok.server.url}mf-manifest.json` },
      ...quiet,
    });
    assert.deepEqual({ ...(await host2.import('authService/y')) }, { sep: '/', fs: 'function' });
  });

  test("a shared singleton is the host's own instance; a missing provider is a typed error", async () => {
    const code = 'exports.jwt = require("jsonwebtoken");';
    const shared = { jsonwebtoken: { version: '9.0.3', requiredVersion: '^9.0.0', singleton: true } };
    const { server, cleanup } = await setup({ './x': { code, shared: ['jsonwebtoken'] } }, { shared });
    cleanups.push(cleanup);
    await using host = createHost({
      name: 'h',
      remotes: { authService: `${server.url}mf-manifest.json` },
      shared: { jsonwebtoken: { singleton: true } },
      root: REPO_ROOT,
      ...quiet,
    });
    const mod = await host.import<{ jwt: unknown }>('authService/x');
    assert.equal(mod.jwt, createRequire(`${REPO_ROOT}x.js`)('jsonwebtoken'));
    assert.ok(host.shareScope.jsonwebtoken?.['9.0.3']?.loaded);

    await using bare = createHost({ name: 'h', remotes: { authService: `${server.url}mf-manifest.json` }, ...quiet });
    const error = await bare.import('authService/x').catch((e: unknown) => e);
    assert.ok(error instanceof SharedUnavailableError, String(error));
    assert.equal(error.package, 'jsonwebtoken');
  });

  test('an error thrown by remote code is an EvaluationError with the original as cause', async () => {
    const { server, cleanup } = await setup({ './x': { code: 'throw new RangeError("boom");' } });
    cleanups.push(cleanup);
    await using host = createHost({ name: 'h', remotes: { authService: `${server.url}mf-manifest.json` }, ...quiet });
    const error = await host.import('authService/x').catch((e: unknown) => e);
    assert.ok(error instanceof EvaluationError, String(error));
    assert.ok(error.cause instanceof RangeError);
    assert.match(String((error.cause as Error).stack), /ferry:\/\/authService@1\.0\.0\//);
  });

  test("bad specifiers, unknown remotes and exposes, and another remote's manifest are typed errors", async () => {
    const { server, cleanup } = await setup({ './x': { code: 'exports.a = 1;' } });
    cleanups.push(cleanup);
    await using host = createHost({
      name: 'h',
      remotes: { authService: `${server.url}mf-manifest.json`, other: `other@${server.url}mf-manifest.json` },
      ...quiet,
    });
    await assert.rejects(host.import('not a specifier'), InvalidSpecifierError);
    await assert.rejects(
      host.import('nope/x'),
      (e: unknown) => e instanceof UnknownRemoteError && /authService, other/.test(e.message),
    );
    await assert.rejects(
      host.import('authService/y'),
      (e: unknown) => e instanceof UnknownExposeError && /\.\/x/.test(e.message),
    );
    await assert.rejects(host.import('other/x'), ManifestMismatchError);
  });

  test('options are validated by name', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ name: 'h', remotes: {}, timeuot: 1 }, /timeuot/],
      [{ name: 'h-1', remotes: {} }, /name/],
      [{ name: 'h', remotes: { a: 'no-at-sign' } }, /remotes\.a/],
      [{ name: 'h', remotes: { a: { url: 'ftp://x/y' } } }, /remotes\.a\.url/],
      [{ name: 'h', remotes: { a: { url: 'http://x/', publicKey: 'abc' } } }, /remotes\.a\.publicKey/],
      [{ name: 'h', remotes: {}, timeouts: { request: -1 } }, /timeouts\.request/],
      [{ name: 'h', remotes: {}, shared: { express: { singelton: true } } }, /shared\.express\.singelton/],
    ];
    for (const [options, pattern] of cases) {
      assert.throws(
        () => createHost(options as never),
        (e: unknown) => e instanceof InvalidOptionError && pattern.test(e.message),
        JSON.stringify(options),
      );
    }
  });

  test('options of earlier versions are refused by name, with the key they moved to', () => {
    const refused = (options: unknown, option: string, pattern: RegExp) =>
      assert.throws(
        () => createHost(options as never),
        (e: unknown) => e instanceof InvalidOptionError && e.option === option && pattern.test(e.message),
        `${JSON.stringify(options)} -> ${option}`,
      );
    const onHost: Array<[string, unknown, string]> = [
      ['timeout', 1000, 'timeouts.request'],
      ['connectTimeout', 1000, 'timeouts.connect'],
      ['headersTimeout', 1000, 'timeouts.headers'],
      ['bodyTimeout', 1000, 'timeouts.body'],
      ['importTimeout', 1000, 'timeouts.import'],
      ['cacheDir', cacheDir, 'cache.dir'],
      ['cacheVersions', 2, 'cache.versions'],
      ['cachePruneInterval', 0, 'cache.pruneInterval'],
      ['staleIfError', false, 'cache.staleIfError'],
      ['pollInterval', 100, 'live.pollInterval'],
      ['push', false, 'live.push'],
      ['drainTimeout', 0, 'live.drainTimeout'],
      ['healthCheck', () => true, 'live.healthCheck'],
      ['onUpdate', () => {}, 'live.onUpdate'],
    ];
    const literal = (text: string) => text.replaceAll('.', '\\.');
    for (const [key, value, to] of onHost) {
      refused(
        { name: 'h', remotes: {}, [key]: value },
        key,
        new RegExp(`^createHost: ${key} moved: use \`${literal(to)}\``),
      );
    }
    const onRemote: Array<[string, unknown, string]> = [
      ['timeout', 1000, 'timeouts.request'],
      ['connectTimeout', 1000, 'timeouts.connect'],
      ['headersTimeout', 1000, 'timeouts.headers'],
      ['bodyTimeout', 1000, 'timeouts.body'],
      ['importTimeout', 1000, 'timeouts.import'],
      ['cacheVersions', 2, 'cache.versions'],
      ['staleIfError', false, 'cache.staleIfError'],
      ['pollInterval', 100, 'live.pollInterval'],
      ['push', false, 'live.push'],
      ['version', '^1', 'versionRange'],
    ];
    for (const [key, value, to] of onRemote) {
      refused(
        { name: 'h', remotes: { a: { url: 'http://127.0.0.1:1/', [key]: value } } },
        `remotes.a.${key}`,
        new RegExp(`^createHost: remotes\\.a\\.${key} moved: use \`remotes\\.a\\.${literal(to)}\``),
      );
    }
  });

  test('a misspelt key of a section gets "did you mean"; host-only keys are refused on a remote', () => {
    const refused = (options: unknown, option: string, pattern: RegExp) =>
      assert.throws(
        () => createHost(options as never),
        (e: unknown) => e instanceof InvalidOptionError && e.option === option && pattern.test(e.message),
        JSON.stringify(options),
      );
    const url = 'http://127.0.0.1:1/';
    refused(
      { name: 'h', remotes: {}, timeouts: { conect: 1 } },
      'timeouts.conect',
      /timeouts\.conect is not a known option\. Did you mean "connect"\?/,
    );
    refused(
      { name: 'h', remotes: {}, cache: { versoins: 2 } },
      'cache.versoins',
      /cache\.versoins is not a known option\. Did you mean "versions"\?/,
    );
    refused(
      { name: 'h', remotes: {}, live: { pollIntervall: 100 } },
      'live.pollIntervall',
      /live\.pollIntervall is not a known option\. Did you mean "pollInterval"\?/,
    );
    refused(
      { name: 'h', remotes: { a: { url, timeouts: { improt: 1 } } } },
      'remotes.a.timeouts.improt',
      /remotes\.a\.timeouts\.improt is not a known option\. Did you mean "import"\?/,
    );
    refused(
      { name: 'h', remotes: { a: { url, cache: { dir: cacheDir } } } },
      'remotes.a.cache.dir',
      /remotes\.a\.cache\.dir is a host option.*Set cache\.dir on createHost\(\) instead/,
    );
    refused(
      { name: 'h', remotes: { a: { url, live: { healthCheck: () => true } } } },
      'remotes.a.live.healthCheck',
      /remotes\.a\.live\.healthCheck is a host option.*Set live\.healthCheck on createHost\(\)/,
    );
  });

  test('the resolved options are read-only', () => {
    const resolved = resolveHostOptions({
      name: 'h',
      remotes: { a: { url: 'http://127.0.0.1:1/', timeouts: { connect: 100 }, cache: { versions: 1 } } },
      ...quiet,
    });
    const remote = resolved.remotes[0]!;
    assert.equal(remote.timeouts.connect, 100);
    const parts = {
      options: resolved,
      remotes: resolved.remotes,
      remote,
      'remote.timeouts': remote.timeouts,
      'remote.retry': remote.retry,
      'remote.cache': remote.cache,
      'remote.live': remote.live,
      'remote.publicKeys': remote.publicKeys,
      timeouts: resolved.timeouts,
      retry: resolved.retry,
      breaker: resolved.breaker,
      cache: resolved.cache,
      live: resolved.live,
      shared: resolved.shared,
      allowedOrigins: resolved.allowedOrigins,
    };
    for (const [name, part] of Object.entries(parts)) assert.ok(Object.isFrozen(part), `${name} is frozen`);
    assert.throws(() => {
      (remote.timeouts as { connect: number }).connect = 1;
    }, TypeError);
    assert.throws(() => {
      (resolved.remotes as unknown as unknown[]).push(remote);
    }, TypeError);
    assert.equal(remote.timeouts.connect, 100);
    assert.equal(resolved.remotes.length, 1);
  });

  test('loads and failures are published on diagnostics_channel', async () => {
    const { server, cleanup } = await setup({ './x': { code: 'exports.a = 1;' } });
    cleanups.push(cleanup);
    const seen: string[] = [];
    const listeners = {
      'ferry:import:start': () => seen.push('start'),
      'ferry:import:end': (m: unknown) => seen.push(`end ${(m as { version: string }).version}`),
      'ferry:import:error': (m: unknown) => seen.push(`error ${(m as { error: FerryError }).error.code}`),
    };
    for (const [name, fn] of Object.entries(listeners)) diagnosticsChannel.subscribe(name, fn);
    try {
      await using host = createHost({ name: 'h', remotes: { authService: `${server.url}mf-manifest.json` }, ...quiet });
      await host.import('authService/x');
      await host.import('authService/missing').catch(() => {});
    } finally {
      for (const [name, fn] of Object.entries(listeners)) diagnosticsChannel.unsubscribe(name, fn);
    }
    assert.deepEqual(seen, ['start', 'end 1.0.0', 'start', 'error ERR_FERRY_UNKNOWN_EXPOSE']);
  });
});

describe('errors thrown by remote code', () => {
  test('a forged ferry error from remote code is reported as an EvaluationError, not trusted', async () => {
    const project = await createTempProject({});
    await writeRemoteOutput(project.dir, {
      name: 'authService',
      exposes: {
        './x': {
          code: `const e = new Error('forged'); e.code = 'ERR_FERRY_INTEGRITY';
Object.defineProperty(e, Symbol.for('ferry.error'), { value: true }); throw e;`,
        },
      },
    });
    const server = await startLoopback(project.dir);
    try {
      await using host = createHost({
        name: 'h',
        remotes: { authService: `${server.url}mf-manifest.json` },
        onWarning: () => {},
        cache: { dir: cacheDir },
      });
      const error = await host.import('authService/x').catch((e: unknown) => e);
      assert.ok(error instanceof EvaluationError, String(error));
      assert.equal((error.cause as Error).message, 'forged');
    } finally {
      await server.close();
      await project.remove();
    }
  });
});
