/**
 * The request handler behind real loopback servers, mounted three ways (node:http with a prefix, express with
 * app.use, fastify with the ferryFastify plugin and by hand with reply.hijack), each checked against the same
 * expectations: headers, conditional requests, HEAD, methods, traversal attempts and rebuilds while serving.
 */
import assert from 'node:assert/strict';
import { rename, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import express from 'express';
import Fastify from 'fastify';
import { integrityOf } from '../src/manifest/index.ts';
import { createRequestHandler, ferryFastify } from '../src/server/index.ts';
import {
  createServedFolder,
  HASHED_FILE,
  HASHED_MAP,
  type RawResponse,
  rawRequest,
  SECRET,
  type ServedFolder,
} from './helpers/server-fixture.ts';

const IMMUTABLE = 'public, max-age=31536000, immutable';
const JS = 'text/javascript; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';

interface Mount {
  /** Base URL of the server, ending without a slash; files are under `${base}/federation/`. */
  base: string;
  close(): Promise<void>;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function closing(server: Server): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
}

const mounts: Record<string, (dir: string) => Promise<Mount>> = {
  'node:http': async (dir) => {
    const server = createServer(createRequestHandler({ dir, prefix: '/federation' }));
    return { base: await listen(server), close: closing(server) };
  },
  express: async (dir) => {
    const app = express();
    app.use('/federation', createRequestHandler({ dir }));
    app.get('/federation/app-route', (_req, res) => {
      res.type('text/plain').send('from the app');
    });
    const server = createServer(app);
    return { base: await listen(server), close: closing(server) };
  },
  'fastify plugin': async (dir) => {
    const app = Fastify();
    await app.register(ferryFastify, { prefix: '/federation', dir });
    await app.listen({ port: 0, host: '127.0.0.1' });
    return { base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, close: () => app.close() };
  },
  'fastify hijack': async (dir) => {
    const app = Fastify();
    const handler = createRequestHandler({ dir, prefix: '/federation' });
    app.all('/federation/*', (request, reply) => {
      reply.hijack();
      handler(request.raw, reply.raw);
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    return { base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, close: () => app.close() };
  },
};

function assertCommonHeaders(response: RawResponse, contentType: string, cacheControl: string, body: string): void {
  assert.equal(response.headers['content-type'], contentType);
  assert.equal(response.headers['cache-control'], cacheControl);
  assert.equal(response.headers['x-content-type-options'], 'nosniff');
  assert.equal(response.headers['content-length'], String(Buffer.byteLength(body)));
  assert.equal(response.headers.etag, `"${integrityOf(Buffer.from(body))}"`);
}

const TRAVERSALS = [
  '/federation/../package.json',
  '/federation/%2e%2e/package.json',
  '/federation/%2e%2e%2fpackage.json',
  '/federation/..%2fpackage.json',
  '/federation/%2E%2E%2F%2E%2E%2Fpackage.json',
  '/federation/%252e%252e/package.json',
  '/federation/%252e%252e%252fpackage.json',
  '/federation/.%2e/package.json',
  '/federation/..\\package.json',
  '/federation/%5c..%5cpackage.json',
  '/federation/%00',
  '/federation/remoteEntry.js%00.map',
  '/federation/.hidden',
  '/federation/%2ehidden',
  '/federation/link-out.js',
  '/federation/link-hidden.js',
  '/federation/linked-dir/secret.txt',
  '/federation//etc/passwd',
  '/federation/sub',
  '/federation/',
  '/federation/%',
  '/federation/%zz',
];

for (const [mountName, mount] of Object.entries(mounts)) {
  describe(`served through ${mountName}`, () => {
    let folder: ServedFolder;
    let server: Mount;
    const get = (path: string, options?: Parameters<typeof rawRequest>[2]) => rawRequest(server.base, path, options);

    before(async () => {
      folder = await createServedFolder();
      server = await mount(folder.dir);
    });
    after(async () => {
      await server?.close();
      await folder?.project.remove();
    });

    test('serves the manifest, its signature and the container with no-cache and a strong ETag', async () => {
      for (const [name, type] of [
        ['mf-manifest.json', JSON_TYPE],
        ['remoteEntry.js', JS],
      ] as const) {
        const response = await get(`/federation/${name}?cache-buster=1`);
        assert.equal(response.status, 200, name);
        assert.equal(response.body, folder.files[name]);
        assertCommonHeaders(response, type, 'no-cache', folder.files[name]!);
      }
      const signature = await get('/federation/mf-manifest.json.sig');
      assert.equal(signature.status, 200);
      assert.equal(signature.headers['content-type'], JSON_TYPE);
      assert.equal(signature.headers['cache-control'], 'no-cache');
    });

    test('serves content-hashed files and their maps as immutable', async () => {
      const file = await get(`/federation/${HASHED_FILE}`);
      assert.equal(file.status, 200);
      assert.equal(file.body, folder.files[HASHED_FILE]);
      assertCommonHeaders(file, JS, IMMUTABLE, folder.files[HASHED_FILE]!);
      const map = await get(`/federation/${HASHED_MAP}`);
      assert.equal(map.status, 200);
      assertCommonHeaders(map, JSON_TYPE, IMMUTABLE, folder.files[HASHED_MAP]!);
    });

    test('uses fixed content types for other files and serves subfolders and symlinks inside the folder', async () => {
      const types = await get('/federation/notes.d.ts');
      assert.equal(types.headers['content-type'], 'text/plain; charset=utf-8');
      assert.equal(types.headers['cache-control'], 'no-cache');
      assert.equal((await get('/federation/data.bin')).headers['content-type'], 'application/octet-stream');
      assert.equal((await get('/federation/sub/nested.js')).status, 200);
      const linked = await get('/federation/link-in.js');
      assert.equal(linked.status, 200);
      assert.equal(linked.body, folder.files['remoteEntry.js']);
    });

    test('answers 304 to a matching If-None-Match (lists, W/ and *) and 200 otherwise', async () => {
      for (const name of ['mf-manifest.json', HASHED_FILE]) {
        const first = await get(`/federation/${name}`);
        const etag = first.headers.etag as string;
        for (const header of [etag, `W/${etag}`, `"nope", ${etag}`, `"a",W/${etag} , "b"`, '*']) {
          const again = await get(`/federation/${name}`, { headers: { 'If-None-Match': header } });
          assert.equal(again.status, 304, `${name} with If-None-Match: ${header}`);
          assert.equal(again.body, '');
          assert.equal(again.headers.etag, etag);
          assert.equal(again.headers['cache-control'], first.headers['cache-control']);
        }
        const other = await get(`/federation/${name}`, { headers: { 'If-None-Match': '"sha384-other"' } });
        assert.equal(other.status, 200);
      }
    });

    test('HEAD sends the same headers as GET and no body', async () => {
      for (const name of ['mf-manifest.json', HASHED_FILE]) {
        const full = await get(`/federation/${name}`);
        const head = await get(`/federation/${name}`, { method: 'HEAD' });
        assert.equal(head.status, 200);
        assert.equal(head.body, '');
        for (const header of ['content-type', 'content-length', 'etag', 'cache-control', 'x-content-type-options']) {
          assert.equal(head.headers[header], full.headers[header], header);
        }
      }
    });

    test('refuses other methods with 405 and Allow: GET, HEAD', async () => {
      for (const method of ['POST', 'PUT', 'DELETE']) {
        const response = await get('/federation/mf-manifest.json', { method });
        assert.equal(response.status, 405, method);
        assert.equal(response.headers.allow, 'GET, HEAD');
      }
    });

    test('answers 404 for missing files', async () => {
      const response = await get('/federation/missing.js');
      assert.equal(response.status, 404);
      // Under express the 404 is the app's own (the handler called next()).
      if (mountName !== 'express') assert.equal(response.headers['cache-control'], 'no-store');
    });

    test('refuses every traversal and hidden-file attempt with 400 or 404', async () => {
      for (const path of TRAVERSALS) {
        const response = await get(path);
        assert.ok([400, 404].includes(response.status), `${path} answered ${response.status}`);
        assert.ok(!response.body.includes(SECRET), `${path} leaked the secret`);
      }
    });

    test('serves new bytes and a new ETag after a file is rebuilt in place or replaced atomically', async () => {
      const before = await get('/federation/remoteEntry.js');
      const inPlace = '// rebuilt in place\nexports.get = () => Promise.reject(new Error("v2"));\n';
      await writeFile(join(folder.dir, 'remoteEntry.js'), inPlace);
      const after = await get('/federation/remoteEntry.js', {
        headers: { 'If-None-Match': before.headers.etag as string },
      });
      assert.equal(after.status, 200);
      assert.equal(after.body, inPlace);
      assert.equal(after.headers.etag, `"${integrityOf(Buffer.from(inPlace))}"`);

      // The same size as before, to be sure the tag does not come from size alone.
      const replaced = inPlace.replace('v2', 'v3');
      await writeFile(join(folder.dir, 'remoteEntry.js.tmp'), replaced);
      await rename(join(folder.dir, 'remoteEntry.js.tmp'), join(folder.dir, 'remoteEntry.js'));
      const third = await get('/federation/remoteEntry.js', {
        headers: { 'If-None-Match': after.headers.etag as string },
      });
      assert.equal(third.status, 200);
      assert.equal(third.body, replaced);
      assert.notEqual(third.headers.etag, after.headers.etag);
    });

    if (mountName === 'express') {
      test("falls through to the app's own routes when it has no such file", async () => {
        const response = await get('/federation/app-route');
        assert.equal(response.status, 200);
        assert.equal(response.body, 'from the app');
      });
    }
  });
}
