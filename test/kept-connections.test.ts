/**
 * A host keeps a request's connection for the next request to the same origin (src/runtime/net/http-client.ts,
 * `Connections`): a load of several exposes opens fewer connections than it makes requests; `host.close()` leaves no
 * connection open on the server; an idle kept connection is closed by the host after ~2 s; and a request sent on a
 * kept connection that the server had closed meanwhile is sent again on a new one, so the import never sees that
 * race.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHost, type Host, type HostOptions } from '../src/index.ts';
import { createFerryServer, type FerryServer } from '../src/server/index.ts';
import { writeRemoteOutput } from './helpers/remote-output.ts';
import { createTempProject, type TempProject } from './helpers/temp-project.ts';
import { waitFor } from './helpers/wait-for.ts';

const exposes = Object.fromEntries(
  ['a', 'b', 'c'].map((name) => [
    `./${name}`,
    { code: `const value = () => '${name}';\nreturn __ferryNamespace({ value: () => value });\n` },
  ]),
);

/** Counts the server's connections: opened in all, and open now. */
function countConnections(server: Server): { opened: number; open: Set<Socket> } {
  const seen = { opened: 0, open: new Set<Socket>() };
  server.on('connection', (socket: Socket) => {
    seen.opened++;
    seen.open.add(socket);
    socket.once('close', () => seen.open.delete(socket));
  });
  return seen;
}

/** The three-expose remote, built into the project and served; closed after the test. */
async function serveRemote(t: TestContext, project: TempProject): Promise<FerryServer> {
  const dir = project.path('remote');
  await writeRemoteOutput(dir, { name: 'authService', format: 'esm', exposes });
  const server = await createFerryServer({ dir, port: 0 });
  t.after(() => server.close());
  return server;
}

/** Imports the three exposes one after the other, as a host's first requests and an app's later imports come. */
async function importEach(host: Host): Promise<void> {
  for (const name of ['a', 'b', 'c']) {
    const module = (await host.import(`authService/${name}`)) as { value(): string };
    assert.equal(module.value(), name);
    await sleep(5);
  }
}

/** A host of the remote at `url`, caching in the project, polling too rarely to interfere. */
function hostOf(url: string, project: TempProject, extra: Partial<HostOptions> = {}): Host {
  return createHost({
    name: 'h',
    remotes: { authService: url },
    cache: { dir: project.path('cache') },
    live: { push: false, pollInterval: 600_000 },
    onWarning: () => {},
    ...extra,
  });
}

test('a load shares connections between its requests, and host.close() leaves none open', async (t) => {
  await using project = await createTempProject({});
  const server = await serveRemote(t, project);
  const seen = countConnections(server.server);
  let requests = 0;
  server.server.on('request', () => requests++);
  const host = hostOf(`${server.url}mf-manifest.json`, project);
  await importEach(host);
  assert.equal(requests, 4, 'the manifest and three files');
  assert.equal(seen.opened, 1, 'one kept connection served every request');
  await host.close();
  await waitFor(() => seen.open.size === 0, 'the kept connection closed with the host');
});

test('a kept connection the host does not use again is closed by the host after ~2 s', async (t) => {
  await using project = await createTempProject({});
  const server = await serveRemote(t, project);
  const seen = countConnections(server.server);
  const host = hostOf(`${server.url}mf-manifest.json`, project);
  t.after(() => host.close());
  await importEach(host);
  assert.equal(seen.open.size, 1, 'kept after the load');
  // The server would keep it 5 s (keepAliveTimeout); the host closes it first, 2 s after its last request.
  const idle = performance.now();
  await waitFor(() => seen.open.size === 0, 'the idle kept connection closed', 4500);
  assert.ok(performance.now() - idle > 1000, 'not closed at once');
});

test('a request on a kept connection the server closed meanwhile is sent again on a new one', async (t) => {
  await using project = await createTempProject({});
  const ferry = await serveRemote(t, project);
  // In front of the ferry server: answers the first request of each connection (keep-alive) and drops the
  // connection, without an answer, when a second request arrives on it — a server closing an idle connection just
  // as the host reuses it.
  let dropped = 0;
  const served = new WeakSet<Socket>();
  const proxy = createServer((req, res) => {
    const socket = req.socket;
    if (served.has(socket)) {
      dropped++;
      socket.destroy();
      return;
    }
    served.add(socket);
    fetch(new URL(req.url ?? '/', ferry.url))
      .then(async (answer) => {
        const body = Buffer.from(await answer.arrayBuffer());
        res.writeHead(answer.status, { 'content-type': 'application/octet-stream', 'content-length': body.byteLength });
        res.end(body);
      })
      .catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => proxy.close(() => resolve())));
  const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/mf-manifest.json`;
  // No request retries: only the resend on a new connection can save the import.
  const host = hostOf(url, project, { retry: false });
  t.after(() => host.close());
  await importEach(host);
  assert.ok(dropped >= 1, `the proxy dropped a reused connection (${dropped})`);
});
