/**
 * `createInspector(host, options)`: a read-only request handler for node:http, express and fastify that serves the
 * inspector's page (`/`), its JSON (`/api`) and a server-sent-event stream that says when to read it again
 * (`/events`). Off unless mounted. Without a token it answers only loopback clients; with one, every request must
 * carry it (`Authorization: Bearer …` or `?token=…`), compared in constant time. Only GET and HEAD are answered.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvalidOptionError } from '../common/errors.ts';
import type { Host } from '../runtime/host.ts';
import { inspectorPage } from './page.ts';
import { Recorder } from './recorder.ts';
import { takeSnapshot } from './snapshot.ts';

export interface InspectorOptions {
  /**
   * A secret every request must carry (`Authorization: Bearer <token>` or `?token=<token>`), at least 16 characters.
   * Without it, the inspector answers only clients on loopback (127.0.0.0/8, ::1). Behind a reverse proxy on the same
   * machine every client looks like loopback: set a token there.
   */
  token?: string;
  /**
   * The path the inspector is mounted at when the framework does not strip it (node:http, fastify), e.g.
   * `/ferry`. express's `app.use('/ferry', inspector)` strips it itself.
   */
  basePath?: string;
  /** How many recent events and imports are kept (default 200). */
  history?: number;
}

/** The handler, with `close()` to stop listening to the host's channels and end open event streams. */
export interface InspectorHandler {
  (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void): void;
  close(): void;
}

const MIN_TOKEN_LENGTH = 16;
const MAX_STREAMS = 32;

/**
 * Creates the inspector of `host`.
 *
 * @example
 * ```ts
 * import { createInspector } from 'ferry/inspector';
 * const inspector = createInspector(host, { token: process.env.FERRY_INSPECTOR_TOKEN });
 * app.use('/ferry', inspector); // express; open http://127.0.0.1:3000/ferry/
 * ```
 */
export function createInspector(host: Host, options: InspectorOptions = {}): InspectorHandler {
  const { token, basePath = '', history = 200 } = options;
  if (token !== undefined && (typeof token !== 'string' || token.length < MIN_TOKEN_LENGTH)) {
    throw new InvalidOptionError(
      `The inspector's \`token\` must be a string of at least ${MIN_TOKEN_LENGTH} characters ` +
        `(e.g. \`openssl rand -hex 24\`); leave it out to answer loopback clients only.`,
      { option: 'token' },
    );
  }
  if (typeof basePath !== 'string' || (basePath !== '' && (!basePath.startsWith('/') || basePath.endsWith('/')))) {
    throw new InvalidOptionError(
      `The inspector's \`basePath\` must start with "/" and not end with one (e.g. "/ferry").`,
      {
        option: 'basePath',
      },
    );
  }
  if (!Number.isInteger(history) || history < 1) {
    throw new InvalidOptionError(`The inspector's \`history\` must be a positive integer (got ${String(history)}).`, {
      option: 'history',
    });
  }
  const expected = token === undefined ? undefined : digest(token);
  const streams = new Set<ServerResponse>();
  // Changes are announced at most every 250 ms (a busy host imports thousands of times a second); the page reads
  // `api` again on each announcement.
  let announce: NodeJS.Timeout | undefined;
  let changed = new Set<string>();
  const recorder = new Recorder(host.name, history, (event) => {
    if (streams.size === 0) return;
    changed.add(event.type);
    announce ??= setTimeout(() => {
      announce = undefined;
      const data = `event: change\ndata: ${JSON.stringify({ types: [...changed] })}\n\n`;
      changed = new Set();
      for (const stream of streams) stream.write(data);
    }, 250).unref();
  });
  const heartbeat = setInterval(() => {
    for (const stream of streams) stream.write(': keep-alive\n\n');
  }, 15_000);
  heartbeat.unref();

  const handler = ((req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => {
    const url = new URL(req.url ?? '/', 'http://inspector');
    let path = url.pathname;
    if (basePath && (path === basePath || path.startsWith(`${basePath}/`))) path = path.slice(basePath.length);
    if (path === '') path = '/';
    if (path !== '/' && path !== '/api' && path !== '/events') {
      if (next) return next();
      return send(res, 404, 'text/plain; charset=utf-8', 'Not found.\n');
    }
    if (!authorised(req, url, expected)) {
      const why =
        expected === undefined
          ? 'The ferry inspector answers only loopback clients unless it is created with a token.\n'
          : 'The ferry inspector needs its token (Authorization: Bearer <token>, or ?token=<token>).\n';
      return send(res, expected === undefined ? 403 : 401, 'text/plain; charset=utf-8', why, {
        ...(expected === undefined ? {} : { 'www-authenticate': 'Bearer realm="ferry inspector"' }),
      });
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return send(res, 405, 'text/plain; charset=utf-8', 'The ferry inspector is read-only: GET and HEAD only.\n', {
        allow: 'GET, HEAD',
      });
    }
    if (path === '/api') {
      return send(res, 200, 'application/json; charset=utf-8', JSON.stringify(takeSnapshot(host, recorder)), {}, req);
    }
    if (path === '/events') {
      if (streams.size >= MAX_STREAMS) return send(res, 503, 'text/plain; charset=utf-8', 'Too many open streams.\n');
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream', connection: 'keep-alive' });
      res.write('retry: 2000\n\n');
      if (req.method === 'HEAD') return res.end();
      streams.add(res);
      res.on('close', () => streams.delete(res));
      return;
    }
    const nonce = randomBytes(16).toString('base64');
    return send(
      res,
      200,
      'text/html; charset=utf-8',
      inspectorPage(nonce),
      {
        'content-security-policy':
          `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; ` +
          "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
      },
      req,
    );
  }) as InspectorHandler;
  handler.close = () => {
    clearInterval(heartbeat);
    clearTimeout(announce);
    recorder.close();
    for (const stream of streams) stream.end();
    streams.clear();
  };
  return handler;
}

const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
  headers: Record<string, string> = {},
  req?: IncomingMessage,
): void {
  const bytes = Buffer.from(body);
  res.writeHead(status, { ...SECURITY_HEADERS, ...headers, 'content-type': type, 'content-length': bytes.byteLength });
  res.end(req?.method === 'HEAD' ? undefined : bytes);
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** 127.0.0.0/8, ::1, and their IPv4-mapped forms. */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
}

function authorised(req: IncomingMessage, url: URL, expected: Buffer | undefined): boolean {
  if (expected === undefined) return isLoopback(req.socket.remoteAddress);
  const header = req.headers.authorization;
  const given = header?.startsWith('Bearer ') ? header.slice(7) : url.searchParams.get('token');
  if (given === null || given === undefined) return false;
  // Digests of equal length, compared in constant time: neither the token's bytes nor its length leak by timing.
  return timingSafeEqual(digest(given), expected);
}
