/**
 * The default HTTP client: node:http / node:https, because global `fetch` cannot bound the connect phase separately
 * and keeps idle keep-alive sockets open after a request. Every request has its own connection (`agent: false`), a
 * connect deadline (DNS + TCP + TLS), and aborting the signal destroys the socket, so a request past its deadline
 * holds nothing open.
 *
 * It answers with a small {@link HttpResponse} of its own rather than a WHATWG `Response`, and reaches node:http
 * through `process.getBuiltinModule` rather than an ESM `import`: both `Headers`/`Response` and the ESM facade of
 * node:http (which reads every export, including its lazy `WebSocket`) load Node's bundled undici, measured at
 * ~30 ms and ~7 MiB of a host's start-up, for nothing the runtime uses. node:https is only loaded for an https URL.
 */
import type { IncomingMessage } from 'node:http';

/** Thrown (as the `cause` of a `TypeError`, like fetch) when the connection was not established in time. */
export class ConnectTimeout extends Error {
  override readonly name = 'ConnectTimeout';
}

/** What the transport reads of a response: the status, headers by lower-case name, and the body as a stream. */
export interface HttpResponse {
  status: number;
  statusText: string;
  /** A header's value (several values joined with `, `), or undefined. */
  header(name: string): string | undefined;
  /** The body's chunks; an early end of the connection is an error, never a shorter body. Null for no body. */
  body: AsyncIterable<Uint8Array> | null;
  /** Stops reading the body and releases the connection. */
  cancel(): Promise<void>;
}

/** Statuses whose response may not carry a body. */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

type RequestFunction = typeof import('node:http').request;

/**
 * `request` of node:http, or of node:https for `https:`, loaded on first use without an ESM import (see the file
 * comment: an ESM `import … from 'node:http'` anywhere in the process loads undici).
 */
export function requestFor(protocol: string): RequestFunction {
  const name = protocol === 'https:' ? 'node:https' : 'node:http';
  return (process.getBuiltinModule(name) as typeof import('node:http')).request;
}

/**
 * Sends a GET and resolves once the headers arrived; the body streams.
 */
export function httpFetch(
  url: URL,
  init: { headers?: Record<string, string>; signal?: AbortSignal; connectTimeout: number },
): Promise<HttpResponse> {
  return new Promise<HttpResponse>((resolve, reject) => {
    const request = requestFor(url.protocol)(url, { method: 'GET', headers: init.headers, agent: false });
    let connectTimer: NodeJS.Timeout | undefined;
    const fail = (error: unknown) => {
      clearTimeout(connectTimer);
      reject(new TypeError('fetch failed', { cause: error }));
    };
    const onAbort = () => {
      clearTimeout(connectTimer);
      request.destroy(init.signal?.reason instanceof Error ? init.signal.reason : new Error('aborted'));
    };
    if (init.signal?.aborted) return onAbort();
    init.signal?.addEventListener('abort', onAbort, { once: true });
    request.once('close', () => init.signal?.removeEventListener('abort', onAbort));
    request.on('socket', (socket) => {
      if (!socket.connecting) return;
      connectTimer = setTimeout(
        () => request.destroy(new ConnectTimeout(`not connected within ${init.connectTimeout} ms`)),
        init.connectTimeout,
      );
      socket.once('connect', () => clearTimeout(connectTimer));
    });
    request.once('error', fail);
    request.once('response', (response: IncomingMessage) => {
      clearTimeout(connectTimer);
      request.off('error', fail);
      // Later errors (a reset mid-body) reach the reader through the body stream.
      request.on('error', () => {});
      const status = response.statusCode ?? 0;
      const nullBody = NULL_BODY.has(status);
      if (nullBody) response.resume();
      // Streams that end early must error, not look complete: a truncated body is not a body.
      response.once('aborted', () => response.destroy(new Error('the connection closed before the body ended')));
      resolve({
        // As fetch reports it: statuses outside 200–599 are not valid final statuses.
        status: status < 200 || status > 599 ? 599 : status,
        statusText: response.statusMessage ?? '',
        header(name) {
          const value = response.headers[name.toLowerCase()];
          return Array.isArray(value) ? value.join(', ') : value;
        },
        body: nullBody ? null : response,
        async cancel() {
          response.destroy();
          request.destroy();
        },
      });
    });
    request.end();
  });
}

/**
 * The same shape over a WHATWG `Response`, for a host that injects its own `fetch`.
 */
export function fromFetchResponse(response: Response): HttpResponse {
  const stream = response.body;
  return {
    status: response.status,
    statusText: response.statusText,
    header: (name) => response.headers.get(name) ?? undefined,
    body: stream && {
      async *[Symbol.asyncIterator]() {
        const reader = stream.getReader();
        let ended = false;
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) {
              ended = true;
              return;
            }
            yield value;
          }
        } finally {
          // A reader that stops early (a body over its cap) cancels the stream, which releases the connection.
          if (!ended) await reader.cancel().catch(() => {});
          reader.releaseLock();
        }
      },
    },
    async cancel() {
      await stream?.cancel().catch(() => {});
    },
  };
}
