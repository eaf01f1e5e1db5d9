/**
 * Where a host fetches from and how much: redirects only to the remotes' origins or `allowedOrigins`, plain http only
 * on loopback unless `allowInsecureHttp`, refused before any request is made; oversized and endless bodies are cut
 * off at their cap; a drip-fed body hits the deadline.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  createHost,
  type FetchLike,
  HttpStatusError,
  InvalidOptionError,
  RedirectError,
  ResponseTooLargeError,
  TimeoutError,
} from '../src/index.ts';
import { startLoopback } from './helpers/loopback.ts';
import { createTempProject } from './helpers/temp-project.ts';
import { createSignedRemote, quiet } from './helpers/trust-fixture.ts';

/** A fetch that records what it was asked for and never touches the network. */
function recordingFetch(): { fetch: FetchLike; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    fetch: async (url) => {
      calls.push(url.href);
      return new Response('unavailable', { status: 503, statusText: 'Service Unavailable' });
    },
  };
}

describe('redirects', () => {
  test('a redirect to another origin is refused and that origin never sees a request; allowedOrigins lets it through', async () => {
    await using remote = await createSignedRemote();
    await using cache = await createTempProject({});
    await using elsewhere = await startLoopback(remote.project.dir);
    for (const redirected of ['/mf-manifest.json', '/remoteEntry.js']) {
      remote.server.override = (req, res) => {
        if (req.url !== redirected) return false;
        res.writeHead(302, { location: `${elsewhere.url}${redirected.slice(1)}` }).end();
        return true;
      };
      await using host = createHost({
        name: 'h',
        remotes: { authService: { url: remote.manifestUrl, publicKey: remote.publicKey } },
        cache: { dir: cache.dir },
        ...quiet,
      });
      const error = await host.import('authService/x').catch((e: unknown) => e);
      assert.ok(error instanceof RedirectError, String(error));
      assert.ok(error.message.includes(`to ${elsewhere.url}${redirected.slice(1)}`), error.message);
      assert.match(error.message, /allowedOrigins/);
      assert.deepEqual(elsewhere.requests, []);
      assert.equal(remote.runs(), 0);
      await host.close(); // waits for files fetched beside the refused one, still on their way into the cache
    }
    await using allowed = createHost({
      name: 'h',
      remotes: { authService: { url: remote.manifestUrl, publicKey: remote.publicKey } },
      allowedOrigins: [elsewhere.url],
      cache: { dir: cache.dir },
      ...quiet,
    });
    assert.equal((await allowed.import<{ answer: number }>('authService/x')).answer, 42);
    assert.deepEqual(elsewhere.requests, ['/remoteEntry.js']);
    await allowed.close();
  });
});

describe('plain http', () => {
  test('is refused at createHost for a non-loopback remote, before any request', () => {
    const { fetch, calls } = recordingFetch();
    for (const url of [
      'http://auth.example.com/mf-manifest.json',
      'http://10.0.0.5:3001/',
      'http://127.0.0.1.nip.io/',
    ]) {
      assert.throws(
        () => createHost({ name: 'h', remotes: { authService: url }, fetch, ...quiet }),
        (error: unknown) =>
          error instanceof InvalidOptionError &&
          error.option === 'remotes.authService.url' &&
          /plain http to .* not a loopback address.*https.*allowInsecureHttp: true/s.test(error.message),
        url,
      );
    }
    assert.throws(
      () => createHost({ name: 'h', remotes: {}, allowedOrigins: ['http://cdn.example.com'], fetch, ...quiet }),
      (error: unknown) => error instanceof InvalidOptionError && error.option === 'allowedOrigins[0]',
    );
    assert.deepEqual(calls, []);
  });

  test('is allowed on loopback, over https, and anywhere with allowInsecureHttp: true', async () => {
    const { fetch, calls } = recordingFetch();
    for (const url of [
      'http://localhost:3001/',
      'http://127.8.9.10/',
      'http://[::1]:3001/',
      'http://2130706433/',
      'https://auth.example.com/',
    ]) {
      createHost({ name: 'h', remotes: { authService: url }, fetch, ...quiet });
    }
    await using host = createHost({
      name: 'h',
      remotes: { authService: 'http://auth.example.com/mf-manifest.json' },
      allowInsecureHttp: true,
      allowedOrigins: ['http://cdn.example.com/'],
      fetch,
      // One request is the point here: the 503 would otherwise be retried (test/availability.test.ts covers that).
      retry: false,
      ...quiet,
    });
    await assert.rejects(host.import('authService/x'), HttpStatusError);
    assert.deepEqual(calls, ['http://auth.example.com/mf-manifest.json']);
  });

  test('allowedOrigins must be bare http(s) origins', () => {
    for (const bad of [['https://cdn.example.com/path'], ['ftp://cdn.example.com'], 'https://cdn.example.com', [42]]) {
      assert.throws(
        () => createHost({ name: 'h', remotes: {}, allowedOrigins: bad as never }),
        (error: unknown) => error instanceof InvalidOptionError && /allowedOrigins/.test(error.message),
        JSON.stringify(bad),
      );
    }
  });
});

describe('endless data and slow retrieval', () => {
  test('an oversized or endless manifest is cut off at maxManifestBytes', async () => {
    await using remote = await createSignedRemote();
    let closed = false;
    remote.server.override = (req, res) => {
      if (req.url !== '/mf-manifest.json') return false;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.on('close', () => {
        closed = true;
      });
      const chunk = Buffer.alloc(16 * 1024, 0x20);
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
      return true;
    };
    await using host = createHost({
      name: 'h',
      remotes: { authService: remote.manifestUrl },
      maxManifestBytes: 64 * 1024,
      cache: { dir: remote.project.dir },
      ...quiet,
    });
    const error = await host.import('authService/x').catch((e: unknown) => e);
    assert.ok(error instanceof ResponseTooLargeError, String(error));
    assert.match(error.message, /larger than the 65536 bytes allowed/);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(closed, 'the connection was closed, not drained');
  });

  test('a file longer than its declared size is refused at that size, never run', async () => {
    await using remote = await createSignedRemote();
    const original = (await remote.files()).get('remoteEntry.js')!;
    remote.server.override = (req, res) => {
      if (req.url !== '/remoteEntry.js') return false;
      res.end(Buffer.concat([original, Buffer.from('\nglobalThis.pwned = true;\n')]));
      return true;
    };
    await using host = createHost({
      name: 'h',
      remotes: { authService: { url: remote.manifestUrl, publicKey: remote.publicKey } },
      cache: { dir: remote.project.dir },
      ...quiet,
    });
    const error = await host.import('authService/x').catch((e: unknown) => e);
    assert.ok(error instanceof ResponseTooLargeError, String(error));
    assert.match(error.message, new RegExp(`larger than the ${original.byteLength} bytes allowed`));
    assert.equal(remote.runs(), 0);
    assert.equal((globalThis as { pwned?: boolean }).pwned, undefined);
  });

  test('a drip-fed body is aborted at the deadline', async () => {
    await using remote = await createSignedRemote();
    remote.server.override = (req, res) => {
      if (req.url !== '/mf-manifest.json') return false;
      res.writeHead(200);
      const timer = setInterval(() => res.write(' '), 20);
      res.on('close', () => clearInterval(timer));
      return true;
    };
    await using host = createHost({
      name: 'h',
      remotes: { authService: remote.manifestUrl },
      timeouts: { request: 300 },
      cache: { dir: remote.project.dir },
      ...quiet,
    });
    const started = performance.now();
    await assert.rejects(host.import('authService/x'), TimeoutError);
    assert.ok(performance.now() - started < 2000);
  });
});
