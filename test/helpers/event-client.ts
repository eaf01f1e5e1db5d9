/**
 * A raw subscriber of `mf-manifest.events` for server tests: one node:http request on its own connection, the
 * status, headers and text received so far, and a wait for a pattern in that text.
 */
import { type IncomingHttpHeaders, request } from 'node:http';

export interface Subscriber {
  status: number;
  headers: IncomingHttpHeaders;
  /** Everything received so far. */
  text(): string;
  /** Resolves when the text matches, rejects after `timeout` ms. */
  waitFor(pattern: RegExp, timeout?: number): Promise<void>;
  /** Resolves when the server ended the response or closed the connection. */
  ended: Promise<void>;
  close(): void;
}

/** Opens a subscription and resolves once the response headers arrived. */
export function subscribe(url: string): Promise<Subscriber> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers: { accept: 'text/event-stream' } }, (res) => {
      let text = '';
      const waiters = new Set<() => void>();
      res.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk;
        for (const check of waiters) check();
      });
      const ended = new Promise<void>((done) => res.on('close', () => done()));
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        text: () => text,
        ended,
        waitFor: (pattern, timeout = 5000) =>
          new Promise<void>((done, fail) => {
            const timer = setTimeout(() => {
              waiters.delete(check);
              fail(new Error(`no ${pattern} within ${timeout} ms; received ${JSON.stringify(text)}`));
            }, timeout);
            const check = () => {
              if (!pattern.test(text)) return;
              clearTimeout(timer);
              waiters.delete(check);
              done();
            };
            waiters.add(check);
            check();
          }),
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
    req.end();
  });
}
