/**
 * Detection of new versions of one remote: a subscription to the remote's server-sent events (`mf-manifest.events`
 * beside its manifest, offered by `ferry serve` and `ferry/server`), and polling with conditional requests while that
 * push channel is unavailable (an older server, a proxy that buffers, a dropped connection). Either way the watcher
 * only says "check now", passing on the manifest bytes an event carried (src/manifest/manifest-event.ts): the host
 * verifies those as a fetched manifest and fetches it when they fail, so an event can never inject anything.
 *
 * The stream is opened with node:http/https, or with the host's custom `fetch` when it has one (a proxy, mTLS, headers
 * the remote requires): the same origin check, the same parser (event-stream.ts), the same idle deadline and backoff
 * either way. No redirect is followed for the stream on either path: a 3xx means "no push here", and the host polls.
 *
 * Timers and the node:http connection are unref'd: a host that is only watching does not keep the process alive. A
 * custom fetch's connection cannot be unref'd (fetch has no such API); `host.close()` aborts it.
 */
import type { IncomingMessage } from 'node:http';
import { type ManifestAnnouncement, type PushedManifest, parseManifestEvent } from '../../manifest/index.ts';
import { Backoff } from '../net/backoff.ts';
import type { FetchLike } from '../net/fetch-bytes.ts';
import { requestFor } from '../net/http-client.ts';
import { createEventStreamParser } from './event-stream.ts';

/** The name of the event stream, next to `mf-manifest.json`. */
export const EVENTS_FILE = 'mf-manifest.events';

/**
 * What a watcher asks its host to do. `integrity` is the manifest integrity a push event announced, if any, and
 * `pushed` the manifest bytes the event carried (hashed to `integrity`, not yet verified otherwise). Resolves to
 * `false` when the check could not ask the remote (the next poll then waits longer), anything else when it could.
 */
export type CheckRequest = (trigger: 'poll' | 'push', integrity?: string, pushed?: PushedManifest) => Promise<unknown>;

export interface WatcherOptions {
  manifestUrl: string;
  /**
   * Milliseconds between polls while push is down; `false`: no polling. After a poll that could not ask the remote,
   * the next waits this plus a random extra that grows with each failed poll in a row (the runtime's backoff, based
   * on this and at most {@link MAX_BACKOFF_MS}), so hosts polling a remote that is down or overloaded ease off
   * and spread out; a poll that reaches the remote brings back the plain interval.
   */
  pollInterval: number | false;
  push: boolean;
  check: CheckRequest;
  /** The host's custom fetch: the event stream is opened with it. Default: node:http/https. */
  fetch?: FetchLike | undefined;
  /**
   * The origins the host may fetch from (read at each connection, so origins added later count); the stream is
   * never opened on another. Default: the manifest's origin.
   */
  origins?: ReadonlySet<string> | undefined;
  /** Silence after which the stream counts as dead, in milliseconds (default 45 000: servers ping every 15 s). */
  idleTimeout?: number;
  /**
   * The manifest integrity the host runs now, if any: an announcement of it (the server sends the current manifest
   * to every new subscriber) asks for no check, so it does not take the one push check a second allows, and a build
   * announced right after a (re)connection is checked at once.
   */
  current?: () => string | undefined;
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
 * While the push channel is connected the host still checks now and then, every `pollInterval` times this: an
 * announcement the server could not send (it failed to read the manifest at that moment, a proxy dropped it) is
 * picked up anyway, at a tenth of the polling load.
 */
export const REVALIDATE_FACTOR = 10;
/** The least time between two checks that events trigger: a flood of events costs one check a second, not one each. */
const PUSH_CHECK_INTERVAL_MS = 1000;
/** More events than this within {@link FLOOD_WINDOW_MS} is a flood, not announcements of builds. */
const FLOOD_EVENTS = 20;
const FLOOD_WINDOW_MS = 10_000;
/**
 * A channel that misbehaves (a flood, an event or a line over 64 KiB) is dropped and not opened again for at least
 * this, doubled for each misbehaviour in a row (up to {@link MAX_BACKOFF_MS}); the host polls meanwhile.
 */
const PENALTY_MS = 5_000;
/** A stream that stayed open this long was healthy: reconnecting after it ends starts the backoff over. */
const HEALTHY_MS = 5_000;

/** What an opened stream reports to the watcher; each transport calls these, at most one of the last three once. */
interface StreamHandlers {
  /** A 200 with `text/event-stream`: the channel is up. */
  open(): void;
  /** Bytes of the body. */
  data(chunk: Uint8Array): void;
  /** The request failed before an answer (refused, reset, DNS): try again with backoff. */
  error(): void;
  /** An answer that is not an event stream (another status, another type, a redirect): no push here. */
  refused(): void;
  /** The stream ended or broke after it was open. */
  closed(): void;
}

/** Opens the stream; returns the function that closes it (the socket is closed, not just ignored). */
type OpenStream = (url: URL, handlers: StreamHandlers) => () => void;

/**
 * Starts watching a remote.
 */
export function watchRemote(options: WatcherOptions): Watcher {
  const idleMs = options.idleTimeout ?? IDLE_MS;
  const customFetch = options.fetch;
  const openStream: OpenStream = customFetch
    ? (url, handlers) => openWithFetch(customFetch, url, handlers)
    : openWithHttp;
  let stopped = false;
  let connected = false;
  let pollTimer: NodeJS.Timeout | undefined;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let idleTimer: NodeJS.Timeout | undefined;
  let closeCurrent: (() => void) | undefined;
  // Reconnecting waits by the runtime's one schedule; a stream that was open a while starts it over.
  const reconnect = new Backoff({ base: 1000, max: MAX_BACKOFF_MS });
  // Misbehaviours in a row (forgiven once a stream opens long after the last one).
  let strikes = 0;
  let lastStrike = Number.NEGATIVE_INFINITY;
  // Push-triggered checks: the last one's time, the trailing one waiting, and the newest announcement (its integrity
  // and any manifest bytes it carried).
  let lastPushCheck = Number.NEGATIVE_INFINITY;
  let pushTimer: NodeJS.Timeout | undefined;
  let latest: ManifestAnnouncement = { integrity: undefined, pushed: undefined };
  let events: number[] = [];

  const pollEvery = () =>
    options.pollInterval === false
      ? false
      : connected
        ? options.pollInterval * REVALIDATE_FACTOR
        : options.pollInterval;
  // Polls in a row that could not ask the remote, and the extra wait they add before the next one.
  const pollFailures = new Backoff({ base: options.pollInterval || 1000, max: MAX_BACKOFF_MS });
  let pollExtra = 0;
  const schedulePoll = () => {
    const interval = pollEvery();
    if (stopped || interval === false || pollTimer !== undefined) return;
    pollTimer = setTimeout(async () => {
      pollTimer = undefined;
      if (stopped) return;
      const asked = await options.check('poll').catch(() => false);
      if (asked === false) pollExtra = pollFailures.next();
      else {
        pollFailures.reset();
        pollExtra = 0;
      }
      schedulePoll();
    }, interval + pollExtra);
    pollTimer.unref();
  };
  /** The push channel went up or down: polling switches between its two paces. */
  const reschedulePoll = () => {
    clearTimeout(pollTimer);
    pollTimer = undefined;
    schedulePoll();
  };

  const disconnected = (retryIn: number) => {
    connected = false;
    clearTimeout(idleTimer);
    closeCurrent = undefined;
    if (stopped) return;
    reschedulePoll();
    if (reconnectTimer !== undefined) return;
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      connect();
    }, retryIn);
    reconnectTimer.unref();
  };

  /** Checks for an announced build, at most once per PUSH_CHECK_INTERVAL_MS (the last announcement wins). */
  const pushCheck = (announcement: ManifestAnnouncement) => {
    const { integrity } = announcement;
    if (integrity !== undefined && integrity === options.current?.() && pushTimer === undefined) return;
    latest = announcement;
    if (pushTimer !== undefined) return;
    const run = () => {
      pushTimer = undefined;
      lastPushCheck = performance.now();
      options.check('push', latest.integrity, latest.pushed).catch(() => {});
    };
    const wait = lastPushCheck + PUSH_CHECK_INTERVAL_MS - performance.now();
    if (wait <= 0) return run();
    pushTimer = setTimeout(run, wait);
    pushTimer.unref();
  };

  /** Whether this event makes a flood (more than FLOOD_EVENTS within FLOOD_WINDOW_MS). */
  const flooded = () => {
    const now = performance.now();
    events = events.filter((at) => now - at < FLOOD_WINDOW_MS);
    events.push(now);
    return events.length > FLOOD_EVENTS;
  };

  /** The wait before reconnecting after a misbehaviour: the backoff, and at least this strike's penalty. */
  const penalty = () => {
    lastStrike = performance.now();
    events = [];
    return Math.max(reconnect.next(), Math.min(MAX_BACKOFF_MS, PENALTY_MS * 2 ** strikes++));
  };

  const connect = () => {
    if (stopped) return;
    const url = new URL(EVENTS_FILE, options.manifestUrl);
    const origins = options.origins ?? new Set([new URL(options.manifestUrl).origin]);
    // As transport.ts: checked before connecting, so an origin the host may not fetch from never sees a request.
    if (!origins.has(url.origin)) {
      disconnected(MAX_BACKOFF_MS);
      return;
    }
    let settled = false;
    let close = () => {};
    let openedAt: number | undefined;
    const fail = (retryIn: number) => {
      if (settled) return;
      settled = true;
      close();
      disconnected(retryIn);
    };
    /** The stream ended: after a healthy one the backoff starts over, after a short one it goes on. */
    const ended = () => {
      if (openedAt !== undefined && performance.now() - openedAt >= HEALTHY_MS) reconnect.reset();
      fail(reconnect.next());
    };
    // Silence from the request on (an answer that never comes, or a stream that stops) means the connection is dead.
    const resetIdle = () => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(ended, idleMs);
      idleTimer.unref();
    };
    const onEvent = (event: string, data: string) => {
      if (settled) return;
      // A flood (of any events) is not announcements of builds: drop the channel, poll for a while.
      if (flooded()) return fail(penalty());
      if (event !== 'manifest') return;
      // An announcement without details (or with bytes that do not hash to it) is still checked: by a fetch.
      pushCheck(parseManifestEvent(data));
    };
    const parser = createEventStreamParser(onEvent);
    resetIdle();
    close = openStream(url, {
      open() {
        if (settled) return;
        connected = true;
        openedAt = performance.now();
        // Misbehaviour long ago no longer counts against this server.
        if (openedAt - lastStrike > 10 * MAX_BACKOFF_MS) strikes = 0;
        reschedulePoll();
        resetIdle();
      },
      data(chunk) {
        if (settled) return;
        resetIdle();
        // A runaway line or event is not an event stream: drop the connection and try again much later.
        if (!parser.push(chunk)) fail(penalty());
      },
      error() {
        if (settled) return;
        fail(reconnect.next());
      },
      // No push channel here (an older server, a static host): poll, and look again much later.
      refused: () => fail(MAX_BACKOFF_MS),
      closed: ended,
    });
    // A fetch that threw at once has already failed, before there was anything to close.
    if (settled) return close();
    closeCurrent = () => {
      settled = true;
      close();
    };
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
      clearTimeout(pushTimer);
      closeCurrent?.();
      closeCurrent = undefined;
    },
  };
}

/** True for the answer of a push channel: a 200 with `text/event-stream` (anything else means no push here). */
function isEventStream(status: number | undefined, contentType: string | null | undefined): boolean {
  return status === 200 && (contentType ?? '').startsWith('text/event-stream');
}

/**
 * The stream over node:http/https, one unref'd connection of its own. Loaded on use (http-client.ts): a static ESM
 * import of node:http loads Node's bundled undici, ~30 ms and ~7 MiB.
 */
function openWithHttp(url: URL, handlers: StreamHandlers): () => void {
  const req = requestFor(url.protocol)(url, { headers: { accept: 'text/event-stream' }, agent: false });
  req.on('socket', (socket) => socket.unref());
  req.on('error', () => handlers.error());
  req.on('response', (res: IncomingMessage) => {
    if (!isEventStream(res.statusCode, res.headers['content-type'])) {
      res.resume();
      handlers.refused();
      return;
    }
    handlers.open();
    res.on('data', (chunk: Buffer) => handlers.data(chunk));
    res.on('close', () => handlers.closed());
    res.on('error', () => handlers.closed());
  });
  req.end();
  return () => req.destroy();
}

/**
 * The stream over the host's own fetch, so it goes through the user's transport (proxy, mTLS, headers). Redirects are
 * not followed (`redirect: 'manual'`, and a fetch that followed one anyway is refused): the stream is read from the
 * URL asked for or not at all. Aborting the signal closes the connection.
 */
function openWithFetch(fetch: FetchLike, url: URL, handlers: StreamHandlers): () => void {
  const controller = new AbortController();
  const { signal } = controller;
  void (async () => {
    let response: Response;
    try {
      response = await fetch(url, { headers: { accept: 'text/event-stream' }, signal, redirect: 'manual' });
    } catch {
      if (!signal.aborted) handlers.error();
      return;
    }
    const body = response.body;
    if (
      signal.aborted ||
      !isEventStream(response.status, response.headers.get('content-type')) ||
      response.redirected ||
      !body
    ) {
      await body?.cancel().catch(() => {});
      if (!signal.aborted) handlers.refused();
      return;
    }
    handlers.open();
    const reader = body.getReader();
    // Cancelling the body releases the connection even with a fetch that ignores its signal once it has answered.
    const onAbort = () => void reader.cancel().catch(() => {});
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        handlers.data(value);
      }
    } catch {
      // closed by the watcher, or the connection broke: either way this stream is over
    }
    signal.removeEventListener('abort', onAbort);
    if (!signal.aborted) {
      await reader.cancel().catch(() => {});
      handlers.closed();
    }
  })();
  return () => controller.abort();
}
