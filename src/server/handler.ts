/**
 * The request handler that serves a build output folder. One function that works as a node:http listener, as
 * express middleware (it calls `next()` for names it does not have) and, through `reply.hijack()`, in fastify.
 *
 * Bytes are read from disk on every 200 (the folder is rebuilt in place while serving, and build outputs are
 * small); only entity tags are remembered, keyed by the file's inode, size and timestamps, so a revalidation that
 * ends in 304 costs a stat and no read.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isSignatureFileCopy, MANIFEST_FILE, SIGNATURE_FILE } from '../manifest/index.ts';
import { etagOf, IMMUTABLE, ifNoneMatchMatches, looksContentHashed, REVALIDATE } from './cache-policy.ts';
import { ContainerNameReader } from './container-name.ts';
import { contentTypeOf } from './content-types.ts';
import { createManifestEvents, EVENTS_FILE } from './events.ts';
import { type OpenedFile, openInside, versionKey } from './open-file.ts';
import { type RequestHandlerOptions, resolveHandlerOptions } from './options.ts';
import { fileNameFromUrl } from './resolve-path.ts';

export type { RequestHandlerOptions } from './options.ts';

/** A node:http style listener that also accepts connect/express's `next`. */
export type RequestHandler = ((req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => void) & {
  /** Ends the open event streams (`mf-manifest.events`) and stops watching the folder; call it when the server stops. */
  close(): void;
};

const ALLOW = 'GET, HEAD';
// Enough for every file of many builds; entries are tiny (a key and a 73-character tag).
const MAX_REMEMBERED_ETAGS = 1024;

/**
 * Creates the handler that serves the build output folder `dir`: GET and HEAD only, regular files inside the
 * folder with safe names only, `immutable` caching for content-hashed files and `no-cache` plus a strong ETag
 * (answered with 304) for the manifest, `mf-manifest.json.sig` and the container under its configured name.
 *
 * Throws {@link InvalidOptionError} for bad options and when `dir` does not exist.
 *
 * @example
 * ```ts
 * // node:http, at the root of the server
 * http.createServer(createRequestHandler({ dir: 'dist/federation' })).listen(3001);
 * // express: req.url is relative to the mount path; unknown names fall through to the app's routes
 * app.use('/federation', createRequestHandler({ dir: 'dist/federation' }));
 * // fastify: see ferryFastify, or by hand:
 * const handler = createRequestHandler({ dir: 'dist/federation', prefix: '/federation' });
 * app.all('/federation/*', (request, reply) => { reply.hijack(); handler(request.raw, reply.raw); });
 * ```
 */
export function createRequestHandler(options: RequestHandlerOptions): RequestHandler {
  const { dir, prefix, onError, events: pushEnabled } = resolveHandlerOptions(options);
  const events = pushEnabled ? createManifestEvents(dir) : undefined;
  const containerNames = new ContainerNameReader(dir);
  const etags = new Map<string, string>();

  const remember = (key: string, etag: string) => {
    if (etags.size >= MAX_REMEMBERED_ETAGS) etags.delete(etags.keys().next().value as string);
    etags.set(key, etag);
  };

  const cacheControlFor = async (name: string): Promise<string> => {
    // Named by the sha384 of the manifest it signs: its bytes never change under that name.
    if (isSignatureFileCopy(name)) return IMMUTABLE;
    if (name === MANIFEST_FILE || name === SIGNATURE_FILE || !looksContentHashed(name)) return REVALIDATE;
    const fixed = await containerNames.read();
    // No readable manifest (mid-rebuild, or not a ferry folder): revalidating is always safe.
    return fixed === undefined || fixed.has(name) ? REVALIDATE : IMMUTABLE;
  };

  const serveFile = async (req: IncomingMessage, res: ServerResponse, name: string, file: OpenedFile) => {
    const headers: Record<string, string> = {
      'Cache-Control': await cacheControlFor(name),
      'X-Content-Type-Options': 'nosniff',
    };
    const key = versionKey(file);
    const known = etags.get(key);
    if (known !== undefined && ifNoneMatchMatches(req.headers['if-none-match'], known)) {
      res.writeHead(304, { ...headers, ETag: known }).end();
      return;
    }
    const bytes = await file.handle.readFile();
    const etag = etagOf(bytes);
    remember(key, etag);
    if (ifNoneMatchMatches(req.headers['if-none-match'], etag)) {
      res.writeHead(304, { ...headers, ETag: etag }).end();
      return;
    }
    res.writeHead(200, {
      ...headers,
      ETag: etag,
      'Content-Type': contentTypeOf(name),
      'Content-Length': String(bytes.byteLength),
    });
    res.end(req.method === 'HEAD' ? undefined : bytes);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => {
    const readOnly = req.method === 'GET' || req.method === 'HEAD';
    // Standalone, every path is ours. Under express, only files that exist are: other methods on other paths
    // belong to the app's routes.
    if (!readOnly && next === undefined) return sendStatus(req, res, 405, 'Method Not Allowed', { Allow: ALLOW });
    const target = fileNameFromUrl(req.url ?? '/', prefix);
    if (target.kind === 'bad-request') return sendStatus(req, res, 400, 'Bad Request');
    const notFound = () => (next ? next() : sendStatus(req, res, 404, 'Not Found'));
    if (target.kind === 'not-found') return notFound();
    if (target.name === EVENTS_FILE && events) {
      if (!readOnly) return sendStatus(req, res, 405, 'Method Not Allowed', { Allow: ALLOW });
      return events.subscribe(req, res);
    }
    const file = await openInside(dir, target.name);
    if (file === undefined) return notFound();
    try {
      if (!readOnly) return sendStatus(req, res, 405, 'Method Not Allowed', { Allow: ALLOW });
      await serveFile(req, res, target.name, file);
    } finally {
      await file.handle.close();
    }
  };

  const handler = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => {
    handle(req, res, next).catch((error: unknown) => {
      onError?.(error);
      // Never leak the error: it names paths on this machine.
      if (res.headersSent) res.destroy();
      else sendStatus(req, res, 500, 'Internal Server Error');
    });
  };
  return Object.assign(handler, { close: () => events?.close() });
}

/** A short plain-text status answer that no cache keeps (a missing file may appear with the next build). */
function sendStatus(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  text: string,
  extra: Record<string, string> = {},
): void {
  const body = `${text}\n`;
  res.writeHead(status, {
    ...extra,
    'Cache-Control': 'no-store',
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
