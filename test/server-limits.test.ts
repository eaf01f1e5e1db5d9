/**
 * The server's limits with real sockets: event-stream subscribers beyond the cap are answered 503 (no-store,
 * Retry-After, not an event stream, so their hosts poll) while the others are still served and still get
 * announcements; a push stream ends after its lifetime; a half-sent request is cut after headersTimeout; a client
 * that never reads a large file does not make the server (a child process) hold the file; every file a request opens
 * is closed again, whether its answer was read whole, streamed to the end, cut off mid-body, a 304 or a HEAD; a
 * change of the manifest
 * that cannot be read at that moment (the server's process out of descriptors) is announced once it can be.
 */
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import { open } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { InvalidOptionError } from '../src/common/errors.ts';
import { createFerryServer, createRequestHandler } from '../src/server/index.ts';
import { defaultLimits } from '../src/server/limits.ts';
import { subscribe } from './helpers/event-client.ts';
import { writeRemoteOutput } from './helpers/remote-output.ts';
import { createTempProject } from './helpers/temp-project.ts';

const CHILD = fileURLToPath(new URL('./helpers/server-child.ts', import.meta.url));
const MiB = 1024 * 1024;

function publish(dir: string, release: number) {
  return writeRemoteOutput(dir, {
    name: 'authService',
    release,
    exposes: { './x': { code: `exports.release = ${release};` } },
  });
}

/** A folder with a published remote and `big.bin`, `mib` MiB of bytes. */
async function publishedWithBigFile(mib: number) {
  const project = await createTempProject({});
  await publish(project.dir, 1);
  const big = await open(project.path('big.bin'), 'w');
  for (let i = 0; i < mib; i++) await big.write(Buffer.alloc(MiB, i));
  await big.close();
  return project;
}

/** Starts server-child.ts; `send` writes a command and resolves with its JSON reply. */
async function startChild(options: object) {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [CHILD, JSON.stringify(options)]);
  child.stderr.setEncoding('utf8').on('data', (text: string) => process.stderr.write(text));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => JSON.parse((await lines.next()).value as string) as Record<string, unknown>;
  const { url } = (await next()) as { url: string };
  return {
    url,
    send: async (command: string) => {
      child.stdin.write(`${command}\n`);
      return next();
    },
    async [Symbol.asyncDispose]() {
      child.stdin.end();
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

test('subscribers beyond maxSubscribers get a clean 503; the others are served and get announcements', {
  timeout: 20_000,
}, async () => {
  await using project = await createTempProject({});
  await publish(project.dir, 1);
  const server = await createFerryServer({ dir: project.dir, port: 0, limits: { maxSubscribers: 3 } });
  const events = `${server.url}mf-manifest.events`;
  try {
    const admitted = await Promise.all([subscribe(events), subscribe(events), subscribe(events)]);
    for (const subscriber of admitted) {
      assert.equal(subscriber.status, 200);
      await subscriber.waitFor(/"release":1/);
    }
    for (let extra = 0; extra < 3; extra++) {
      const refused = await subscribe(events);
      assert.equal(refused.status, 503);
      assert.equal(refused.headers['retry-after'], '60');
      assert.equal(refused.headers['cache-control'], 'no-store');
      assert.ok(!String(refused.headers['content-type']).startsWith('text/event-stream'));
      await refused.ended;
    }
    // Ordinary requests are unaffected, and a new build still reaches every admitted subscriber.
    assert.equal((await fetch(`${server.url}mf-manifest.json`)).status, 200);
    await publish(project.dir, 2);
    await Promise.all(admitted.map((subscriber) => subscriber.waitFor(/"release":2/)));
    // A place that frees up is taken by the next subscriber.
    admitted[0]!.close();
    await admitted[0]!.ended;
    await new Promise((resolve) => setTimeout(resolve, 50));
    const next = await subscribe(events);
    assert.equal(next.status, 200);
    await next.waitFor(/"release":2/);
    next.close();
    for (const subscriber of admitted) subscriber.close();
  } finally {
    await server.close();
  }
});

test('a push stream is ended after its lifetime, and the next subscription gets the current manifest', {
  timeout: 20_000,
}, async () => {
  await using project = await createTempProject({});
  await publish(project.dir, 1);
  const server = await createFerryServer({ dir: project.dir, port: 0, limits: { streamLifetime: 400 } });
  try {
    const started = performance.now();
    const subscriber = await subscribe(`${server.url}mf-manifest.events`);
    await subscriber.waitFor(/"release":1/);
    await subscriber.ended;
    const lived = performance.now() - started;
    assert.ok(lived >= 350 && lived < 2000, `the stream lived ${lived} ms`);
    const again = await subscribe(`${server.url}mf-manifest.events`);
    await again.waitFor(/"release":1/);
    again.close();
  } finally {
    await server.close();
  }
});

test('a request whose headers never finish is cut after headersTimeout', { timeout: 20_000 }, async () => {
  await using project = await createTempProject({});
  await publish(project.dir, 1);
  const server = await createFerryServer({ dir: project.dir, port: 0, limits: { headersTimeout: 300 } });
  try {
    const { port } = new URL(server.url);
    const socket = connect(Number(port), '127.0.0.1');
    await once(socket, 'connect');
    socket.write('GET /mf-manifest.json HTTP/1.1\r\nHost: x\r\n');
    const started = performance.now();
    socket.resume();
    await once(socket, 'close');
    const waited = performance.now() - started;
    assert.ok(waited >= 250 && waited < 2000, `closed after ${waited} ms`);
  } finally {
    await server.close();
  }
});

test('limits are validated: unknown keys refused by name, server settings only on createFerryServer', {
  timeout: 20_000,
}, async () => {
  await using project = await createTempProject({});
  const bad: Array<[object, RegExp]> = [
    [{ maxSubscriber: 5 }, /unknown key "maxSubscriber"; the keys are maxSubscribers, streamLifetime\./],
    [{ headersTimeout: 5 }, /unknown key "headersTimeout" \(a node:http server setting/],
    [{ maxSubscribers: 0 }, /"limits\.maxSubscribers" must be a whole number of at least 1, got 0/],
    [{ streamLifetime: -1 }, /"limits\.streamLifetime" must be a positive number of milliseconds/],
  ];
  for (const [limits, message] of bad) {
    assert.throws(
      () => createRequestHandler({ dir: project.dir, limits } as never),
      (error: unknown) => error instanceof InvalidOptionError && message.test(error.message),
      JSON.stringify(limits),
    );
  }
  await assert.rejects(
    createFerryServer({ dir: project.dir, port: 0, limits: { idleTimeout: Number.NaN } }),
    /createFerryServer\(\) option "limits\.idleTimeout" must be a positive number of milliseconds, got NaN/,
  );
  // The defaults follow the descriptor limit: 2 000 subscribers fit at a generous one, a small one keeps room.
  assert.ok(defaultLimits(65_536).maxSubscribers >= 2000);
  assert.equal(defaultLimits(1024).maxSubscribers, 512);
  assert.ok(defaultLimits(1024).maxConnections < 1024);
});

test('clients that never read a 100 MiB file do not make the server hold it (RSS of the server process)', {
  timeout: 20_000,
}, async () => {
  await using project = await publishedWithBigFile(100);
  await using child = await startChild({ dir: project.dir });
  const { port } = new URL(child.url);
  const before = (await child.send('rss')).rss as number;
  const sockets = [];
  for (let i = 0; i < 10; i++) {
    const socket = connect(Number(port), '127.0.0.1');
    await once(socket, 'connect');
    // Asks for the file and never reads the answer.
    socket.pause();
    socket.write(`GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    sockets.push(socket);
  }
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const after = (await child.send('rss')).rss as number;
  for (const socket of sockets) socket.destroy();
  const grown = (after - before) / MiB;
  console.log(`server RSS grew ${grown.toFixed(1)} MiB with 10 stalled clients of a 100 MiB file`);
  assert.ok(grown < 50, `the server's RSS grew ${grown.toFixed(1)} MiB`);
});

test('every file a request opens is closed again: small and large files, streamed or cut off mid-body, 304, HEAD', {
  timeout: 20_000,
}, async () => {
  await using project = await publishedWithBigFile(8);
  await using child = await startChild({ dir: project.dir });
  const { port } = new URL(child.url);
  const openFiles = async () => ((await child.send('fds')).files as string[]).filter((f) => f.startsWith(project.dir));
  assert.deepEqual(await openFiles(), [], 'nothing of the folder is open before the requests');
  const manifest = await fetch(`${child.url}mf-manifest.json`);
  const etag = manifest.headers.get('etag')!;
  await manifest.arrayBuffer();
  const whole = await fetch(`${child.url}big.bin`);
  assert.equal((await whole.arrayBuffer()).byteLength, 8 * MiB);
  for (const init of [{ method: 'HEAD' }, { headers: { 'If-None-Match': etag } }]) {
    const answer = await fetch(`${child.url}mf-manifest.json`, init);
    await answer.arrayBuffer();
    assert.ok(answer.status === 200 || answer.status === 304, String(answer.status));
  }
  // Clients that go away after the first bytes of the large file, and one that never reads them.
  for (let i = 0; i < 5; i++) {
    const socket = connect(Number(port), '127.0.0.1');
    await once(socket, 'connect');
    socket.write('GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n');
    if (i > 0) await once(socket, 'data');
    socket.destroy();
  }
  let left = await openFiles();
  for (let waited = 0; left.length > 0 && waited < 5000; waited += 100) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    left = await openFiles();
  }
  assert.deepEqual(left, [], 'every descriptor a request opened is closed');
  const after = await fetch(`${child.url}big.bin`);
  assert.equal((await after.arrayBuffer()).byteLength, 8 * MiB, 'and the file is served again');
});

test('a manifest change that cannot be read then (out of descriptors) is announced once it can be', {
  timeout: 20_000,
}, async () => {
  await using project = await createTempProject({});
  await publish(project.dir, 1);
  await using child = await startChild({ dir: project.dir });
  const subscriber = await subscribe(`${child.url}mf-manifest.events`);
  try {
    await subscriber.waitFor(/"release":1/);
    const exhausted = await child.send('exhaust');
    assert.equal(exhausted.code, 'EMFILE');
    // Seen by the watch and the stat poll (neither needs a new descriptor); reading it does, and fails.
    await publish(project.dir, 2);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.doesNotMatch(subscriber.text(), /"release":2/);
    await child.send('release');
    await subscriber.waitFor(/"release":2/, 8000);
  } finally {
    subscriber.close();
  }
});

/** Sends one request on an open keep-alive connection and reads the response (headers and Content-Length body). */
function requestOn(socket: Socket, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let data = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      const end = data.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = data.subarray(0, end).toString('latin1');
      const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
      if (data.byteLength < end + 4 + length) return;
      socket.off('data', onData);
      resolve({
        status: Number(head.split(' ')[1]),
        body: data.subarray(end + 4, end + 4 + length).toString('utf8'),
      });
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
  });
}

test('a file that cannot be opened (out of descriptors) is a bare 500 reported to onError; then served again', {
  timeout: 20_000,
}, async () => {
  await using project = await createTempProject({});
  await publish(project.dir, 1);
  await using child = await startChild({ dir: project.dir });
  // Connected before the descriptors run out: the request still reaches the handler, whose open() then fails.
  const socket = connect(Number(new URL(child.url).port), '127.0.0.1');
  await once(socket, 'connect');
  try {
    assert.equal((await requestOn(socket, '/mf-manifest.json')).status, 200);
    assert.equal((await child.send('exhaust')).code, 'EMFILE');
    const failed = await requestOn(socket, '/mf-manifest.json');
    assert.equal(failed.status, 500);
    assert.equal(failed.body, 'Internal Server Error\n');
    await child.send('release');
    assert.deepEqual((await child.send('errors')).errors, ['EMFILE']);
    assert.equal((await requestOn(socket, '/mf-manifest.json')).status, 200);
  } finally {
    socket.destroy();
  }
});
