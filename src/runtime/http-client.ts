/**
 * The default HTTP client: node:http / node:https behind the WHATWG `fetch` shape the transport uses, because global
 * `fetch` cannot bound the connect phase separately and keeps idle keep-alive sockets open after a request. Here
 * every request has its own connection (`agent: false`), a connect deadline (DNS + TCP + TLS), and aborting the
 * signal destroys the socket, so a request past its deadline holds nothing open.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';

/** Thrown (as the `cause` of a `TypeError`, like fetch) when the connection was not established in time. */
export class ConnectTimeout extends Error {
  override readonly name = 'ConnectTimeout';
}

/** Statuses whose response may not carry a body (the Response constructor refuses one). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * Sends a GET and resolves with a `Response` once the headers arrived; the body streams.
 *
 * @example
 * ```ts
 * const response = await httpFetch(new URL('http://127.0.0.1:3001/mf-manifest.json'), { signal, connectTimeout: 3000 });
 * ```
 */
export function httpFetch(
  url: URL,
  init: { headers?: Record<string, string>; signal?: AbortSignal; connectTimeout: number },
): Promise<Response> {
  return new Promise<Response>((resolve, reject) => {
    const request = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, {
      method: 'GET',
      headers: init.headers,
      agent: false,
    });
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
      const headers = new Headers();
      for (const [name, value] of Object.entries(response.headers)) {
        if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
      }
      const status = response.statusCode ?? 0;
      const nullBody = NULL_BODY.has(status);
      if (nullBody) response.resume();
      // Streams that end early must error, not look complete: a truncated body is not a body.
      response.once('aborted', () => response.destroy(new Error('the connection closed before the body ended')));
      const body = nullBody ? null : (Readable.toWeb(response) as unknown as ReadableStream<Uint8Array>);
      try {
        resolve(
          new Response(body, {
            status: status < 200 || status > 599 ? 599 : status,
            statusText: response.statusMessage ?? '',
            headers,
          }),
        );
      } catch (error) {
        request.destroy();
        fail(error);
      }
    });
    request.end();
  });
}
