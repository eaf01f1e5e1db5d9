/**
 * The default HTTP client: node:http / node:https, because global `fetch` cannot bound the connect phase separately
 * and keeps idle keep-alive sockets open after a request. Every request has a connect deadline (DNS + TCP + TLS), and
 * aborting the signal destroys the socket, so a request past its deadline holds nothing open.
 *
 * A host keeps a request's connection for the next request to the same origin for a moment ({@link Connections}:
 * a load's manifest, signature and files follow each other within milliseconds, and a connection costs both ends more
 * CPU than the request on it), never longer than {@link IDLE_SOCKET_MS} or than the server's `Keep-Alive: timeout`
 * hint less a second, and never in the way of the process exiting. A request that fails on a kept connection before
 * any response (the server closed it as the request went out) is sent again once on a new connection. Without a
 * pool (the event stream, the CLI's fetches) every request has its own connection (`agent: false`).
 *
 * It answers with a small {@link HttpResponse} of its own rather than a WHATWG `Response`, and reaches node:http
 * through `process.getBuiltinModule` rather than an ESM `import`: both `Headers`/`Response` and the ESM facade of
 * node:http (which reads every export, including its lazy `WebSocket`) load Node's bundled undici, measured at
 * ~30 ms and ~7 MiB of a host's start-up, for nothing the runtime uses. node:https is only loaded for an https URL.
 */
import type { Agent, IncomingMessage } from 'node:http';

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

/** How long a kept connection may wait for the next request before it is closed. */
export const IDLE_SOCKET_MS = 2000;

/** Errors of a request on a kept connection that the server had closed meanwhile: nothing reached it. */
const STALE_CONNECTION = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/** The failures of requests sent on a kept connection (node:http's `request.reusedSocket`). */
const onKeptConnection = new WeakSet<Error>();

/**
 * A host's kept connections, one keep-alive agent per protocol (made at first use), closed with the host. Idle
 * connections do not keep the process alive (node:http unrefs them).
 */
export class Connections {
  readonly #agents = new Map<string, Agent>();
  #closed = false;

  /** The agent for `protocol`, or false (a connection of its own) once the host closed. */
  agentFor(protocol: string): Agent | false {
    if (this.#closed) return false;
    let agent = this.#agents.get(protocol);
    if (!agent) {
      const module = process.getBuiltinModule(
        protocol === 'https:' ? 'node:https' : 'node:http',
      ) as typeof import('node:http');
      agent = new module.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS, scheduling: 'lifo' });
      this.#agents.set(protocol, agent);
    }
    return agent;
  }

  /**
   * Closes every idle kept connection, and each one in use when its request ends (a request under way is not cut
   * short); later requests each have a connection of their own.
   */
  close(): void {
    this.#closed = true;
    for (const agent of this.#agents.values()) {
      agent.keepSocketAlive = () => false;
      for (const sockets of Object.values(agent.freeSockets)) for (const socket of sockets ?? []) socket.destroy();
    }
    this.#agents.clear();
  }
}

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
  init: { headers?: Record<string, string>; signal?: AbortSignal; connectTimeout: number; connections?: Connections },
): Promise<HttpResponse> {
  const agent = init.connections?.agentFor(url.protocol) ?? false;
  if (agent === false) return send(url, init, false);
  return send(url, init, agent).catch((error: unknown) => {
    const code = ((error as Error).cause as NodeJS.ErrnoException | undefined)?.code;
    // Sent on a kept connection the server had just closed: again, once, on a connection of its own.
    if (onKeptConnection.has(error as Error) && code && STALE_CONNECTION.has(code) && !init.signal?.aborted) {
      return send(url, init, false);
    }
    throw error;
  });
}

function send(
  url: URL,
  init: { headers?: Record<string, string>; signal?: AbortSignal; connectTimeout: number },
  agent: Agent | false,
): Promise<HttpResponse> {
  return new Promise<HttpResponse>((resolve, reject) => {
    const request = requestFor(url.protocol)(url, { method: 'GET', headers: init.headers, agent });
    let connectTimer: NodeJS.Timeout | undefined;
    const fail = (error: unknown) => {
      clearTimeout(connectTimer);
      const failed = new TypeError('fetch failed', { cause: error });
      if (request.reusedSocket) onKeptConnection.add(failed);
      reject(failed);
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
