/**
 * The one place the runtime touches the network. Every request has deadlines for its connect, headers and body phases
 * and for the whole request, each of which aborts it (the socket is closed, not just ignored), a byte cap enforced while the body streams in, a status check before any body byte is read, and
 * a redirect policy (only to allowed origins — by default the request's own — at most three hops), and an origin
 * check before each hop connects. The `fetch` implementation is injectable.
 */

import type { Readable } from 'node:stream';
import {
  FerryError,
  HttpStatusError,
  InvalidOptionError,
  NetworkError,
  RedirectError,
  ResponseTooLargeError,
  TimeoutError,
} from '../../common/errors.ts';
import { type Connections, ConnectTimeout, fromFetchResponse, type HttpResponse, httpFetch } from './http-client.ts';
import type { Fetcher, RemoteClientOptions } from './remote-client.ts';

/** The subset of WHATWG fetch the runtime needs; Node's global `fetch` fits. */
export type FetchLike = (input: URL, init: RequestInit) => Promise<Response>;

export interface FetchBytesOptions {
  /** Abort the whole request (connect, headers and body) after this many milliseconds. */
  timeout: number;
  /** Abort when the connection is not established after this many milliseconds (default: `timeout`). */
  connectTimeout?: number;
  /** Abort when the response headers have not arrived this many milliseconds after the start (default: `timeout`). */
  headersTimeout?: number;
  /** Abort when the body has not fully arrived this many milliseconds after the headers (default: `timeout`). */
  bodyTimeout?: number;
  /**
   * The phase reported when `timeout` passes: `request`, or `import` when the caller shortened it to what was left
   * of the import's deadline.
   */
  timeoutPhase?: 'request' | 'import';
  /** Refuse (and stop reading) a body larger than this. */
  maxBytes: number;
  /** Names the remote in errors. */
  remote: string;
  /** What is being fetched, for messages (`manifest`, `file remoteEntry.js`). */
  what: string;
  /** A fetch implementation to use instead of ferry's node:http client (its connect phase is then not bounded). */
  fetch?: FetchLike | undefined;
  /** The host's kept connections (node:http client only); without, the request has a connection of its own. */
  connections?: Connections | undefined;
  /** Conditional request: send If-None-Match and accept a 304. */
  etag?: string | undefined;
  /** Treat a 404 as "absent" (resolve with `status: 404`) instead of an error. */
  allowNotFound?: boolean;
  /**
   * Every origin this request may touch, the first URL and each redirect (default: only the first URL's origin).
   * Checked before connecting, so a refused origin never sees a request.
   */
  origins?: ReadonlySet<string>;
}

export interface FetchBytesResult {
  status: number;
  bytes: Uint8Array;
  etag: string | undefined;
  /** The URL that answered (after same-origin redirects). */
  url: string;
}

const MAX_REDIRECTS = 3;

/**
 * Fetches a URL into memory under a deadline and a byte cap, with typed errors that name the remote and the URL.
 */
export async function fetchBytes(url: string, options: FetchBytesOptions): Promise<FetchBytesResult> {
  const controller = new AbortController();
  // Which deadline fired decides the error's phase; each one aborts the same controller (closing the socket).
  let phase: NonNullable<TimeoutError['phase']> | undefined;
  const deadline = (ms: number, name: NonNullable<TimeoutError['phase']>) =>
    setTimeout(() => {
      phase ??= name;
      controller.abort();
    }, ms);
  const total = deadline(options.timeout, options.timeoutPhase ?? 'request');
  let headersTimer: NodeJS.Timeout | undefined;
  let bodyTimer: NodeJS.Timeout | undefined;
  const details = { remote: options.remote, url };
  let current = new URL(url);
  const origins = options.origins ?? new Set([current.origin]);
  if (!origins.has(current.origin)) {
    clearTimeout(total);
    throw new InvalidOptionError(
      `The ${options.what} of remote "${options.remote}" is at ${current.href}, outside the origins this host may ` +
        `fetch from (${[...origins].join(', ')}). Add ${current.origin} to the host's \`allowedOrigins\` if it is trusted.`,
      { ...details, option: 'allowedOrigins' },
    );
  }
  const send = (target: URL, headers: Record<string, string>): Promise<HttpResponse> =>
    options.fetch
      ? options.fetch(target, { headers, signal: controller.signal, redirect: 'manual' }).then(fromFetchResponse)
      : httpFetch(target, {
          headers,
          signal: controller.signal,
          connectTimeout: options.connectTimeout ?? options.timeout,
          ...(options.connections ? { connections: options.connections } : {}),
        });
  try {
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { accept: '*/*' };
      if (options.etag) headers['if-none-match'] = options.etag;
      headersTimer = deadline(options.headersTimeout ?? options.timeout, 'headers');
      const response = await send(current, headers);
      clearTimeout(headersTimer);
      if (response.status >= 300 && response.status < 400 && response.status !== 304) {
        await response.cancel();
        const location = response.header('location');
        const next = location === undefined ? undefined : new URL(location, current);
        if (!next || !origins.has(next.origin) || hop >= MAX_REDIRECTS) {
          throw new RedirectError(
            `Remote "${options.remote}" redirected the request for its ${options.what} at ${current.href} ` +
              `${next ? `to ${next.href}` : 'without a Location'}; ferry follows at most ${MAX_REDIRECTS} redirects ` +
              `and only to the origins the host may fetch from (${[...origins].join(', ')}); nothing was fetched ` +
              'from the new location. Point the remote URL at where the files are served, or add that origin to ' +
              "the host's `allowedOrigins` if it is trusted.",
            details,
          );
        }
        current = next;
        continue;
      }
      if (response.status === 304 && options.etag) {
        await response.cancel();
        return { status: 304, bytes: new Uint8Array(0), etag: options.etag, url: current.href };
      }
      if (response.status === 404 && options.allowNotFound) {
        await response.cancel();
        return { status: 404, bytes: new Uint8Array(0), etag: undefined, url: current.href };
      }
      if (response.status < 200 || response.status > 299) {
        await response.cancel();
        const retryAfterMs = parseRetryAfter(response.header('retry-after') ?? null, Date.now());
        throw new HttpStatusError(
          `Remote "${options.remote}" answered ${response.status} ${response.statusText} for its ${options.what} at ` +
            `${current.href}; nothing from that response was used. Check that the remote is deployed and serves ` +
            'its `ferry build` output at that URL.',
          { ...details, url: current.href, status: response.status, retryAfterMs },
        );
      }
      bodyTimer = deadline(options.bodyTimeout ?? options.timeout, 'body');
      const bytes = await readCapped(response, options, current.href);
      return { status: response.status, bytes, etag: response.header('etag'), url: current.href };
    }
  } catch (error) {
    // Nothing of a failed request stays open. A request that succeeded needs no abort: its body was read to the end
    // (or cancelled), and an abort would only run listeners, per request. The failure is the abort's reason: without
    // one, every abort builds an AbortError (a DOMException and a stack capture; the first in a process also loads
    // the class), once per remote a host cannot reach.
    controller.abort(error);
    if (phase !== undefined) {
      const which = phase === 'request' ? '' : `${phase} `;
      const limit =
        phase === 'headers'
          ? (options.headersTimeout ?? options.timeout)
          : phase === 'body'
            ? (options.bodyTimeout ?? options.timeout)
            : options.timeout;
      throw new TimeoutError(
        `Remote "${options.remote}" did not deliver its ${options.what} at ${current.href} within the ${which}` +
          `deadline of ${Math.round(limit)} ms; the request was aborted and its connection closed. Check the ` +
          'remote, or raise the deadline on the host (`timeouts.request`, `timeouts.headers`, `timeouts.body`, `timeouts.import`).',
        { ...details, phase, cause: error },
      );
    }
    if (error instanceof FerryError) throw error;
    const reason = (error as { cause?: unknown }).cause ?? error;
    if (reason instanceof ConnectTimeout) {
      throw new TimeoutError(
        `Could not connect to remote "${options.remote}" for its ${options.what} at ${current.href} within the ` +
          `connect deadline of ${options.connectTimeout ?? options.timeout} ms; the attempt was abandoned. Check ` +
          'that the remote is reachable, or raise `timeouts.connect` on the host.',
        { ...details, phase: 'connect', cause: error },
      );
    }
    const why = reason as { code?: string; message?: string };
    throw new NetworkError(
      `Could not fetch the ${options.what} of remote "${options.remote}" from ${current.href}: ` +
        `${why?.code ?? why?.message ?? String(reason)}. Check that the remote is running and ` +
        'reachable from this host.',
      { ...details, cause: error },
    );
  } finally {
    clearTimeout(total);
    clearTimeout(headersTimer);
    clearTimeout(bodyTimer);
  }
}

/**
 * The innermost step of the host's client: one HTTP request for a remote, bounded by the remote's phase deadlines and
 * by what is left of the import's deadline (the whole request's deadline is the shorter of the two, reported as
 * `import` when the import's is what ends it).
 */
export function dispatch(host: Pick<RemoteClientOptions, 'fetch' | 'origins' | 'connections'>): Fetcher {
  return (request) => {
    const { timeouts } = request.remote;
    const remaining = request.remainingMs ?? timeouts.request;
    return fetchBytes(request.url, {
      maxBytes: request.maxBytes,
      what: request.what,
      etag: request.etag,
      ...(request.allowNotFound ? { allowNotFound: true } : {}),
      timeout: Math.max(1, Math.min(timeouts.request, remaining)),
      timeoutPhase: remaining < timeouts.request ? 'import' : 'request',
      connectTimeout: timeouts.connect,
      headersTimeout: timeouts.headers,
      bodyTimeout: timeouts.body,
      remote: request.remote.alias,
      fetch: host.fetch,
      connections: host.connections,
      origins: host.origins,
    });
  };
}

/**
 * `Retry-After` in milliseconds from now: delay-seconds or an HTTP date; undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

async function readCapped(response: HttpResponse, options: FetchBytesOptions, url: string): Promise<Uint8Array> {
  const tooLarge = (seen: string) =>
    new ResponseTooLargeError(
      `The ${options.what} of remote "${options.remote}" at ${url} is larger than the ${options.maxBytes} bytes ` +
        `allowed (${seen}); it was not used. If the remote really is that large, raise the host's limit.`,
      { remote: options.remote, url },
    );
  const declared = Number(response.header('content-length'));
  if (Number.isFinite(declared) && declared > options.maxBytes) {
    await response.cancel();
    throw tooLarge(`Content-Length ${declared}`);
  }
  if (!response.body) return new Uint8Array(0);
  const { chunks, total, over } = await collect(response.body, options.maxBytes);
  if (over) {
    await response.cancel();
    throw tooLarge(`at least ${total} bytes arrived`);
  }
  return Buffer.concat(chunks, total);
}

interface Collected {
  chunks: Uint8Array[];
  total: number;
  /** More than the cap arrived: the rest was left unread (`total` counts the chunk that went over). */
  over: boolean;
}

/** A Node stream, as ferry's own client answers with (`IncomingMessage`). */
function isNodeStream(body: AsyncIterable<Uint8Array>): body is AsyncIterable<Uint8Array> & Readable {
  return typeof (body as Partial<Readable>).on === 'function' && typeof (body as Partial<Readable>).off === 'function';
}

/**
 * A body's chunks until it ends, or until more than `maxBytes` arrived. A Node stream is read through its events:
 * `for await` builds an async iterator and a promise per chunk, ~17 µs a response before its first byte (bench/
 * README.md, eleventh round). Either way an error or an early close rejects: a truncated body is not a body.
 */
function collect(body: AsyncIterable<Uint8Array>, maxBytes: number): Promise<Collected> {
  if (!isNodeStream(body)) return collectIterable(body, maxBytes);
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let total = 0;
    const settle = (error: unknown, over = false) => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
      body.off('close', onClose);
      // Whatever the stream reports later (its connection closed by a cancel) has no one left to tell.
      body.on('error', () => {});
      if (over) body.pause();
      if (error) reject(error);
      else resolve({ chunks, total, over });
    };
    const onData = (chunk: Uint8Array) => {
      total += chunk.byteLength;
      if (total > maxBytes) return settle(undefined, true);
      chunks.push(chunk);
    };
    const onEnd = () => settle(undefined);
    const onError = (error: unknown) => settle(error);
    const onClose = () => settle(new Error('the body closed before it ended'));
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', onError);
    body.once('close', onClose);
  });
}

async function collectIterable(body: AsyncIterable<Uint8Array>, maxBytes: number): Promise<Collected> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += chunk.byteLength;
    if (total > maxBytes) return { chunks, total, over: true };
    chunks.push(chunk);
  }
  return { chunks, total, over: false };
}
