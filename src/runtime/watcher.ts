/**
 * Detection of new versions of one remote: a subscription to the remote's server-sent events (`mf-manifest.events`
 * beside its manifest, offered by `ferry serve` and `ferry/server`), and polling with conditional requests while that
 * push channel is unavailable (an older server, a proxy that buffers, a dropped connection). Either way the watcher
 * only says "check now"; the host fetches and verifies the manifest itself, so an event can never inject anything.
 *
 * Timers and the event connection are unref'd: a host that is only watching does not keep the process alive.
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import { requestFor } from './http-client.ts';

/** The name of the event stream, next to `mf-manifest.json`. */
export const EVENTS_FILE = 'mf-manifest.events';

/** What a watcher asks its host to do. `integrity` is the manifest integrity a push event announced, if any. */
export type CheckRequest = (trigger: 'poll' | 'push', integrity?: string) => Promise<unknown>;

export interface WatcherOptions {
  manifestUrl: string;
  /** Milliseconds between polls while push is down; `false`: no polling. */
  pollInterval: number | false;
  push: boolean;
  check: CheckRequest;
}

export interface Watcher {
  /** True while the event stream is connected. */
  readonly pushConnected: boolean;
  stop(): void;
}

// A server sends a comment every 15 s; silence for longer than this means the connection is dead.
const IDLE_MS = 45_000;
const MAX_BACKOFF_MS = 60_000;
const FIRST_CONNECT_DELAY_MS = 100;

/**
 * Starts watching a remote.
 *
 * @example
 * ```ts
 * const watcher = watchRemote({ manifestUrl, pollInterval: 30_000, push: true, check: (trigger) => host.update() });
 * watcher.stop();
 * ```
 */
export function watchRemote(options: WatcherOptions): Watcher {
  let stopped = false;
  let connected = false;
  let pollTimer: NodeJS.Timeout | undefined;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let idleTimer: NodeJS.Timeout | undefined;
  let current: ClientRequest | undefined;
  let backoff = 1000;

  const schedulePoll = () => {
    if (stopped || connected || options.pollInterval === false || pollTimer !== undefined) return;
    pollTimer = setTimeout(async () => {
      pollTimer = undefined;
      if (stopped || connected) return;
      await options.check('poll').catch(() => {});
      schedulePoll();
    }, options.pollInterval);
    pollTimer.unref();
  };

  const disconnected = (retryIn: number) => {
    connected = false;
    clearTimeout(idleTimer);
    current = undefined;
    if (stopped) return;
    schedulePoll();
    if (reconnectTimer !== undefined) return;
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      connect();
    }, retryIn);
    reconnectTimer.unref();
  };

  const connect = () => {
    if (stopped) return;
    const url = new URL(EVENTS_FILE, options.manifestUrl);
    // Loaded on use (http-client.ts): a static ESM import of node:http loads Node's bundled undici, ~30 ms and ~7 MiB.
    const send = requestFor(url.protocol);
    let settled = false;
    const fail = (retryIn: number) => {
      if (settled) return;
      settled = true;
      req.destroy();
      disconnected(retryIn);
    };
    const req = send(url, { headers: { accept: 'text/event-stream' }, agent: false });
    current = req;
    req.on('socket', (socket) => socket.unref());
    req.on('error', () => {
      fail(backoff);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    });
    const resetIdle = () => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(() => fail(backoff), IDLE_MS);
      idleTimer.unref();
    };
    req.on('response', (res: IncomingMessage) => {
      const type = String(res.headers['content-type'] ?? '');
      if (res.statusCode !== 200 || !type.startsWith('text/event-stream')) {
        // No push channel here (an older server, a static host): poll, and look again much later.
        res.resume();
        fail(MAX_BACKOFF_MS);
        return;
      }
      connected = true;
      backoff = 1000;
      clearTimeout(pollTimer);
      pollTimer = undefined;
      resetIdle();
      readEvents(res, resetIdle, (event, data) => {
        if (event !== 'manifest') return;
        let integrity: string | undefined;
        try {
          const parsed = JSON.parse(data) as { integrity?: unknown };
          if (typeof parsed.integrity === 'string') integrity = parsed.integrity;
        } catch {
          // an announcement without details: check anyway
        }
        options.check('push', integrity).catch(() => {});
      });
      res.on('close', () => fail(backoff));
      res.on('error', () => fail(backoff));
    });
    req.end();
  };

  if (options.push) {
    // The first subscription waits a moment so it does not compete with the host's first load of the remote. Nothing
    // is missed: a new subscriber is sent the current manifest at once.
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      connect();
    }, FIRST_CONNECT_DELAY_MS);
    reconnectTimer.unref();
  } else schedulePoll();

  return {
    get pushConnected() {
      return connected;
    },
    stop() {
      stopped = true;
      connected = false;
      clearTimeout(pollTimer);
      clearTimeout(reconnectTimer);
      clearTimeout(idleTimer);
      current?.destroy();
      current = undefined;
    },
  };
}

/** Parses a text/event-stream body: calls `onEvent(event, data)` per dispatched event, `onData` on any bytes. */
function readEvents(res: IncomingMessage, onData: () => void, onEvent: (event: string, data: string) => void): void {
  let buffer = '';
  let event = 'message';
  let data: string[] = [];
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    onData();
    buffer += chunk;
    let newline = buffer.search(/\r\n|\r|\n/);
    while (newline !== -1) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer.startsWith('\r\n', newline) ? 2 : 1));
      if (line === '') {
        if (data.length > 0) onEvent(event, data.join('\n'));
        event = 'message';
        data = [];
      } else if (!line.startsWith(':')) {
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
      }
      newline = buffer.search(/\r\n|\r|\n/);
    }
    // A runaway line without a newline is not an event stream.
    if (buffer.length > 64 * 1024) res.destroy();
  });
}
