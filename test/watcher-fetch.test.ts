/**
 * The push channel with a host's custom `fetch`: the `mf-manifest.events` subscription goes through the user's
 * transport like every other request (headers the remote requires, a proxy, mTLS), with the same behaviour as the
 * node:http path: a non-200 or non-event-stream answer (or a redirect) means polling, through the same fetch; silence
 * past the idle deadline drops and reopens the stream; `close()` aborts it. Also the shared event-stream parser.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createHost, type FetchLike, type HostOptions, type UpdateMessage } from '../src/index.ts';
import { createEventStreamParser } from '../src/runtime/live/event-stream.ts';
import { watchRemote } from '../src/runtime/live/watcher.ts';
import { createRequestHandler } from '../src/server/index.ts';
import { writeRemoteOutput } from './helpers/remote-output.ts';
import { createTempProject, type TempProject } from './helpers/temp-project.ts';

const cacheDir = mkdtempSync(join(tmpdir(), 'ferry-watcher-fetch-cache-'));
after(() => rmSync(cacheDir, { recursive: true, force: true }));

const EVENTS = '/mf-manifest.events';
const TOKEN = { name: 'x-ferry-test-token', value: 'let-me-in' };
let seq = 0;

async function publish(dir: string, tag: string, release: number): Promise<void> {
  await writeRemoteOutput(dir, {
    name: 'authService',
    version: '1.0.0',
    release,
    exposes: { './validator': { code: `exports.tag = () => ${JSON.stringify(tag)};` } },
  });
}

interface Remote extends AsyncDisposable {
  url: string;
  origin: string;
  /** Every request: path and the status it was answered with. */
  requests: { path: string; status: () => number }[];
  /** Event streams the server has open now. */
  streams: Set<ServerResponse>;
  /** Replace the answer for some requests (after the token check): return true when it answered. */
  override: ((req: IncomingMessage, res: ServerResponse) => boolean) | undefined;
  /** The connections open now, each as the paths requested on it (none yet: `[]`). */
  connections(): string[][];
  closeIdle(): void;
}

/** ferry's request handler (with its event stream) on a loopback port; optionally 403 without the token header. */
async function startRemote(dir: string, options: { requireToken?: boolean } = {}): Promise<Remote> {
  const handler = createRequestHandler({ dir });
  const sockets = new Map<Socket, string[]>();
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    remote.requests.push({ path, status: () => res.statusCode });
    sockets.get(req.socket)?.push(path);
    if (options.requireToken && req.headers[TOKEN.name] !== TOKEN.value) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('forbidden');
      return;
    }
    if (remote.override?.(req, res)) return;
    if (path === EVENTS) {
      remote.streams.add(res);
      res.on('close', () => remote.streams.delete(res));
    }
    handler(req, res);
  });
  server.on('connection', (socket: Socket) => {
    sockets.set(socket, []);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const remote: Remote = {
    url: `${origin}/`,
    origin,
    requests: [],
    streams: new Set(),
    override: undefined,
    connections: () => [...sockets.values()],
    closeIdle: () => server.closeIdleConnections(),
    async [Symbol.asyncDispose]() {
      handler.close();
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
  return remote;
}

/** A custom fetch over the global one that records every URL and can add headers (what a user's transport does). */
function recordingFetch(headers: Record<string, string> = {}): { urls: string[]; fetch: FetchLike } {
  const urls: string[] = [];
  return {
    urls,
    fetch: (input, init) => {
      urls.push(String(input));
      return fetch(input, { ...init, headers: { ...(init.headers as Record<string, string>), ...headers } });
    },
  };
}

function hostFor(url: string, options: Partial<HostOptions>) {
  const events: UpdateMessage[] = [];
  const host = createHost({
    name: 'userService',
    remotes: { authService: { url: `${url}mf-manifest.json` } },
    onWarning: () => {},
    ...options,
    cache: { dir: cacheDir, ...options.cache },
    live: { drainTimeout: 0, onUpdate: (event) => events.push(event), ...options.live },
  });
  return { host, events };
}

type Validator = { tag(): string };

async function project(): Promise<TempProject> {
  return createTempProject({});
}

test('push with a custom fetch: the event stream goes through it and a new build is swapped in', async () => {
  await using folder = await project();
  await publish(folder.dir, `a${seq++}`, 1);
  await using remote = await startRemote(folder.dir);
  const recorder = recordingFetch();
  const { host, events } = hostFor(remote.url, { fetch: recorder.fetch, live: { push: true, pollInterval: false } });
  const live = await host.live<Validator>('authService/validator');
  await waitFor(() => remote.streams.size === 1);
  const v2 = `b${seq++}`;
  await publish(folder.dir, v2, 2);
  await waitFor(() => live.tag() === v2, 5000);
  assert.equal(events.find((e) => e.type === 'check')?.trigger, 'push');
  assert.ok(recorder.urls.includes(`${remote.url}mf-manifest.events`), 'the stream was opened with the custom fetch');
  assert.equal(
    remote.requests.filter((r) => r.path === EVENTS).length,
    recorder.urls.filter((u) => u.endsWith(EVENTS)).length,
    'every events request came through the custom fetch',
  );
  await host.close();
});

test("push with a custom fetch that adds the header the remote requires (403 without it, the stream's path too)", async () => {
  await using folder = await project();
  await publish(folder.dir, `c${seq++}`, 1);
  await using remote = await startRemote(folder.dir, { requireToken: true });
  const recorder = recordingFetch({ [TOKEN.name]: TOKEN.value });
  const { host, events } = hostFor(remote.url, { fetch: recorder.fetch, live: { push: true, pollInterval: false } });
  const live = await host.live<Validator>('authService/validator');
  await waitFor(() => remote.streams.size === 1);
  const v2 = `d${seq++}`;
  await publish(folder.dir, v2, 2);
  await waitFor(() => live.tag() === v2, 5000);
  assert.equal(events.find((e) => e.type === 'check')?.trigger, 'push');
  assert.deepEqual(
    remote.requests.filter((r) => r.status() === 403),
    [],
    'nothing reached the remote without the header: the node:http client was not used',
  );
  await host.close();
});

for (const transport of ['custom fetch', 'node:http'] as const) {
  test(`${transport}: host.close() aborts the event stream; no connection stays open and no reconnect follows`, async () => {
    await using folder = await project();
    await publish(folder.dir, `e${seq++}`, 1);
    await using remote = await startRemote(folder.dir);
    const custom = transport === 'custom fetch' ? { fetch: recordingFetch().fetch } : {};
    const { host } = hostFor(remote.url, { ...custom, live: { push: true, pollInterval: 50 } });
    await host.import('authService/validator');
    await waitFor(() => remote.streams.size === 1);
    const subscriptions = remote.requests.filter((r) => r.path === EVENTS).length;
    await host.close();
    await waitFor(() => remote.streams.size === 0, 1000);
    // The global fetch keeps finished requests' sockets for reuse (the server closes those idle ones), and may hold
    // a spare connection on which nothing was ever requested: both are its pool's, not requests of ferry's. An event
    // stream still open would be busy, not idle, and stay listed with its path.
    remote.closeIdle();
    await waitFor(
      () => remote.connections().every((paths) => paths.length === 0 && transport === 'custom fetch'),
      1000,
    );
    const requestsAtClose = remote.requests.length;
    await sleep(1300); // past the first reconnect delay (1 s) and many poll intervals
    assert.equal(remote.requests.length, requestsAtClose, 'nothing was requested after close()');
    assert.equal(remote.requests.filter((r) => r.path === EVENTS).length, subscriptions);
  });
}

for (const answer of ['404', 'text/html'] as const) {
  test(`an events endpoint that answers ${answer} means polling, through the custom fetch`, async () => {
    await using folder = await project();
    await publish(folder.dir, `f${seq++}`, 1);
    await using remote = await startRemote(folder.dir);
    remote.override = (req, res) => {
      if (!req.url?.startsWith(EVENTS)) return false;
      res.writeHead(answer === '404' ? 404 : 200, { 'content-type': 'text/html' }).end('<html>no events</html>');
      return true;
    };
    const recorder = recordingFetch();
    const { host, events } = hostFor(remote.url, { fetch: recorder.fetch, live: { push: true, pollInterval: 100 } });
    const live = await host.live<Validator>('authService/validator');
    await waitFor(() => recorder.urls.some((u) => u.endsWith(EVENTS)));
    const manifestFetches = recorder.urls.filter((u) => u.endsWith('/mf-manifest.json')).length;
    const v2 = `g${seq++}`;
    await publish(folder.dir, v2, 2);
    await waitFor(() => live.tag() === v2, 5000);
    assert.equal(events.find((e) => e.type === 'check')?.trigger, 'poll');
    assert.ok(
      recorder.urls.filter((u) => u.endsWith('/mf-manifest.json')).length > manifestFetches,
      'the polls went through the custom fetch',
    );
    assert.equal(recorder.urls.filter((u) => u.endsWith(EVENTS)).length, 1, 'no push here: asked again much later');
    assert.ok(
      remote.requests.every((r) => recorder.urls.includes(`${remote.origin}${r.path}`)),
      'every request came through the custom fetch',
    );
    await host.close();
  });
}

test('an events endpoint that redirects to another origin is not followed (the host polls)', async () => {
  await using folder = await project();
  await publish(folder.dir, `h${seq++}`, 1);
  await using elsewhere = await startRemote(folder.dir);
  await using remote = await startRemote(folder.dir);
  remote.override = (req, res) => {
    if (!req.url?.startsWith(EVENTS)) return false;
    res.writeHead(302, { location: `${elsewhere.url}mf-manifest.events` }).end();
    return true;
  };
  for (const following of [false, true]) {
    // `following`: a user's fetch that drops `redirect: 'manual'` and follows anyway; the stream is still refused.
    const recorder = recordingFetch();
    const custom: FetchLike = following
      ? (input, init) => recorder.fetch(input, { headers: init.headers ?? {}, signal: init.signal ?? null })
      : recorder.fetch;
    const { host, events } = hostFor(remote.url, { fetch: custom, live: { push: true, pollInterval: 100 } });
    await host.import('authService/validator');
    await waitFor(() => remote.requests.some((r) => r.path === EVENTS));
    await sleep(300);
    assert.ok(!recorder.urls.some((u) => u.startsWith(elsewhere.origin)), 'ferry asked for nothing elsewhere');
    if (!following) assert.deepEqual(elsewhere.requests, [], 'the other origin saw no request');
    assert.equal(elsewhere.streams.size, 0, 'no stream is held open at the other origin');
    assert.ok(!events.some((e) => e.type === 'check' && e.trigger === 'push'), 'nothing was read from it');
    assert.ok(
      events.some((e) => e.type === 'check' && e.trigger === 'poll'),
      'the host polls instead',
    );
    await host.close();
  }
});

/** When the server saw a subscription, answered it and saw it closed. */
interface Subscription {
  at: number;
  answered?: number;
  closed?: number;
}

// The watcher on its own, over both transports: the same deadlines and the same answers.
for (const transport of ['custom fetch', 'node:http'] as const) {
  test(`${transport}: silence before or after the headers past the idle deadline drops the stream; it polls, then reconnects`, async () => {
    await using folder = await project();
    await using remote = await startRemote(folder.dir);
    // Each subscription's times, recorded by the server as they happen, so a loaded machine cannot miss a window.
    const subscriptions: Subscription[] = [];
    remote.override = (req, res) => {
      if (!req.url?.startsWith(EVENTS)) return false;
      const record: Subscription = { at: performance.now() };
      subscriptions.push(record);
      remote.streams.add(res);
      res.on('close', () => {
        record.closed = performance.now();
        remote.streams.delete(res);
      });
      // The first subscription never answers; the second answers and then says nothing.
      if (subscriptions.length > 1) {
        res.writeHead(200, { 'content-type': 'text/event-stream' }).flushHeaders();
        record.answered = performance.now();
      }
      return true;
    };
    const checks: string[] = [];
    let sawConnected = false;
    const started = performance.now();
    const watcher = watchRemote({
      manifestUrl: `${remote.url}mf-manifest.json`,
      pollInterval: 50,
      push: true,
      idleTimeout: 250,
      check: async (trigger) => void checks.push(trigger),
      fetch: transport === 'custom fetch' ? recordingFetch().fetch : undefined,
    });
    const sampler = setInterval(() => {
      if (watcher.pushConnected) sawConnected = true;
    }, 5);
    try {
      await waitFor(() => subscriptions[0]?.closed !== undefined, 3000);
      const first = subscriptions[0] as Subscription;
      assert.ok(
        first.closed! - started >= 200,
        `the unanswered request is dropped at the idle deadline, not before (${Math.round(first.closed! - started)} ms)`,
      );
      await waitFor(() => checks.includes('poll'), 1000);
      // Reconnected after the backoff (under 1 s for the first retry): this time the headers arrive, and the silence
      // after them drops the stream too.
      await waitFor(() => subscriptions[1]?.closed !== undefined, 4000);
      const second = subscriptions[1] as Subscription;
      assert.ok(
        second.at - first.closed! < 1500,
        `reconnected within the first backoff (${Math.round(second.at - first.closed!)} ms)`,
      );
      assert.ok(
        second.answered !== undefined && second.closed! - second.answered >= 200,
        'the silent stream is dropped at the idle deadline after the headers',
      );
      assert.ok(sawConnected, 'the answered stream counted as connected while it was open');
      await waitFor(() => !watcher.pushConnected, 1000);
    } finally {
      clearInterval(sampler);
      watcher.stop();
    }
  });
}

test('an announcement of the version the host runs asks for no check, so a build announced right after is checked at once', async () => {
  await using folder = await project();
  await using remote = await startRemote(folder.dir);
  const announce = (res: ServerResponse, integrity: string) =>
    res.write(`event: manifest\ndata: ${JSON.stringify({ integrity })}\n\n`);
  let stream: ServerResponse | undefined;
  remote.override = (req, res) => {
    if (!req.url?.startsWith(EVENTS)) return false;
    remote.streams.add(res);
    res.on('close', () => remote.streams.delete(res));
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    // As ferry's server does: the current manifest at once to a new subscriber.
    announce(res, 'sha384-current');
    stream = res;
    return true;
  };
  const checks: Array<{ integrity: string | undefined }> = [];
  const watcher = watchRemote({
    manifestUrl: `${remote.url}mf-manifest.json`,
    pollInterval: false,
    push: true,
    check: async (_trigger, integrity) => void checks.push({ integrity }),
    current: () => 'sha384-current',
  });
  try {
    await waitFor(() => watcher.pushConnected && stream !== undefined);
    await sleep(100);
    assert.equal(checks.length, 0, 'the running version is not checked again');
    // A new build moments after the connection: not held back by the one-push-check-a-second limit.
    // (No check has run, so none holds this one back: it runs when the event arrives.)
    announce(stream!, 'sha384-new');
    await waitFor(() => checks.length > 0, 3000);
    assert.equal(checks[0]!.integrity, 'sha384-new');
    // A flood of announcements of the running version still counts as a flood (the channel is dropped).
    for (let i = 0; i < 30; i++) announce(stream!, 'sha384-current');
    await waitFor(() => !watcher.pushConnected, 3000);
    assert.equal(checks.length, 1);
  } finally {
    watcher.stop();
  }
});

test('the watcher opens no stream on an origin the host may not fetch from, and survives a fetch that throws', async () => {
  await using folder = await project();
  await using remote = await startRemote(folder.dir);
  const checks: string[] = [];
  const outside = watchRemote({
    manifestUrl: `${remote.url}mf-manifest.json`,
    pollInterval: 50,
    push: true,
    origins: new Set(['https://cdn.example.com']),
    check: async (trigger) => void checks.push(trigger),
    fetch: recordingFetch().fetch,
  });
  const throwing = watchRemote({
    manifestUrl: `${remote.url}mf-manifest.json`,
    pollInterval: 50,
    push: true,
    check: async (trigger) => void checks.push(trigger),
    fetch: () => {
      throw new TypeError('this transport is broken');
    },
  });
  try {
    await waitFor(() => checks.filter((c) => c === 'poll').length >= 4);
    assert.deepEqual(remote.requests, []);
    assert.equal(outside.pushConnected, false);
    assert.equal(throwing.pushConnected, false);
  } finally {
    outside.stop();
    throwing.stop();
  }
});

test('the event-stream parser: CRLF, CR and LF, line ends and UTF-8 split across chunks, comments, a runaway line', () => {
  const seen: [string, string][] = [];
  const parser = createEventStreamParser((event, data) => seen.push([event, data]));
  const bytes = (text: string) => new TextEncoder().encode(text);
  const feed = (...chunks: (string | Uint8Array)[]) => {
    for (const chunk of chunks) assert.equal(parser.push(typeof chunk === 'string' ? bytes(chunk) : chunk), true);
  };
  feed('retry: 2000\n\n: ping\n\n');
  feed('event: manifest\r', '\ndata: a\r', '\ndata: b\r\n\r\n');
  const snowman = bytes('data: ☃\n\n');
  feed(snowman.subarray(0, 7), snowman.subarray(7));
  feed('event: other\rdata\r\r');
  feed('data:no-space\n', '\n');
  assert.deepEqual(seen, [
    ['manifest', 'a\nb'],
    ['message', '☃'],
    ['other', ''],
    ['message', 'no-space'],
  ]);
  assert.equal(parser.push(bytes('x'.repeat(64 * 1024 + 1))), false, 'a line longer than 64 KiB is refused');
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(condition: () => boolean | Promise<boolean>, ms = 3000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await sleep(20);
  }
}
