/**
 * The request handler that serves a build output folder. One function that works as a node:http listener, as
 * express middleware (it calls `next()` for names it does not have) and, through `reply.hijack()`, in fastify.
 *
 * Bytes are read from disk on every 200 (the folder is rebuilt in place while serving); only entity tags are
 * remembered, keyed by the file's inode, size and timestamps, so a revalidation that ends in 304 costs a stat and no
 * read. A file larger than 64 KiB is never held whole: its tag is hashed in one streaming pass, and its body is
 * streamed from the open descriptor at the pace the client reads (a client that stops reading holds a few chunks,
 * not the file: 10 such clients of a 100 MiB file once cost the server 1 GiB).
 */

import { createHash } from 'node:crypto';
import { closeSync, createReadStream, read, readSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
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
// Up to this size a file is read whole (one read; the socket's buffer takes it anyway); above, it is streamed.
const READ_WHOLE_BYTES = 64 * 1024;
const CHUNK_BYTES = 64 * 1024;
// A large file's body is read in pieces of this size while at most LARGE_READERS bodies are read so (per handler),
// and of CHUNK_BYTES beyond: one download of a large bundle then takes few reads and writes (a 10 MB file over
// loopback ~19-21 -> ~13-14 ms, bench/ROUNDS.md tenth round), and many at once hold 64 KiB each, as before.
const LARGE_READ_BYTES = 1024 * 1024;
const LARGE_READERS = 4;
// A subscriber over the cap polls instead; its host looks for the push channel again about a minute later.
const RETRY_SUBSCRIBE_SECONDS = '60';

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
  const { dir, prefix, onError, events: pushEnabled, limits } = resolveHandlerOptions(options);
  const events = pushEnabled ? createManifestEvents(dir, limits) : undefined;
  const containerNames = new ContainerNameReader(dir);
  const etags = new Map<string, string>();
  let largeReaders = 0;

  const remember = (key: string, etag: string) => {
    if (etags.size >= MAX_REMEMBERED_ETAGS) etags.delete(etags.keys().next().value as string);
    etags.set(key, etag);
  };

  const cacheControlFor = (name: string): string => {
    // Named by the sha384 of the manifest it signs: its bytes never change under that name.
    if (isSignatureFileCopy(name)) return IMMUTABLE;
    if (name === MANIFEST_FILE || name === SIGNATURE_FILE || !looksContentHashed(name)) return REVALIDATE;
    const fixed = containerNames.read();
    // No readable manifest (mid-rebuild, or not a ferry folder): revalidating is always safe.
    return fixed === undefined || fixed.has(name) ? REVALIDATE : IMMUTABLE;
  };

  /** Answers with `file`; sets `file.streamed` when its descriptor goes to the body's stream, which then closes it. */
  const serveFile = async (req: IncomingMessage, res: ServerResponse, name: string, file: ServedFile) => {
    const headers: Record<string, string> = {
      'Cache-Control': cacheControlFor(name),
      'X-Content-Type-Options': 'nosniff',
    };
    const key = versionKey(file);
    const size = Number(file.stat.size);
    // Small files are read whole, in one read of the size the open file has (not a stream: two reads, a pipe);
    // when the tag is not known yet, that read serves both the tag and the body.
    const small = size <= READ_WHOLE_BYTES;
    const bytes = small && etags.get(key) === undefined ? readWhole(file, size) : undefined;
    const etag = etags.get(key) ?? (bytes ? etagOf(bytes) : await hashStreaming(file));
    remember(key, etag);
    if (ifNoneMatchMatches(req.headers['if-none-match'], etag)) {
      res.writeHead(304, { ...headers, ETag: etag }).end();
      return;
    }
    res.writeHead(200, {
      ...headers,
      ETag: etag,
      'Content-Type': contentTypeOf(name),
      'Content-Length': String(bytes?.byteLength ?? size),
    });
    if (req.method === 'HEAD' || size === 0) return void res.end();
    if (small) return void res.end(bytes ?? readWhole(file, size));
    // Exactly the bytes the tag and Content-Length describe (a file rewritten in place meanwhile ends short, and
    // the client sees a truncated body rather than other bytes under this tag). The stream closes the descriptor
    // once it settles, after any read still in flight.
    const large = largeReaders < LARGE_READERS;
    if (large) largeReaders++;
    const highWaterMark = large ? LARGE_READ_BYTES : CHUNK_BYTES;
    const body = createReadStream('', { fd: file.fd, start: 0, end: size - 1, highWaterMark });
    file.streamed = true;
    try {
      await pipeline(body, res);
    } catch (error) {
      // The client went away mid-body: nothing to report, the socket is gone.
      if (res.destroyed && (error as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE') return;
      throw error;
    } finally {
      if (large) largeReaders--;
    }
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
      // Not an event stream, so the host treats it as "no push here" and polls, trying again after a while.
      if (events.full && req.method === 'GET') {
        return sendStatus(req, res, 503, 'Service Unavailable', { 'Retry-After': RETRY_SUBSCRIBE_SECONDS });
      }
      return events.subscribe(req, res);
    }
    const opened = openInside(dir, target.name);
    if (opened === undefined) return notFound();
    const file: ServedFile = { ...opened, streamed: false };
    try {
      if (!readOnly) return sendStatus(req, res, 405, 'Method Not Allowed', { Allow: ALLOW });
      await serveFile(req, res, target.name, file);
    } finally {
      if (!file.streamed) closeSync(file.fd);
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

/**
 * The first `size` bytes of the file: a file shortened in place since it was opened gives fewer (the answer then ends
 * short of its Content-Length, and the client sees a truncated body, never other bytes under the tag).
 */
function readWhole(file: OpenedFile, size: number): Buffer {
  const buffer = Buffer.allocUnsafe(size);
  let filled = 0;
  while (filled < size) {
    const bytesRead = readSync(file.fd, buffer, filled, size - filled, filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled === size ? buffer : buffer.subarray(0, filled);
}

const readAsync = promisify(read);

/** A file being answered with: `streamed` once its descriptor belongs to the body's stream. */
interface ServedFile extends OpenedFile {
  streamed: boolean;
}

/** The file's strong tag, hashed in one pass of 64 KiB reads: the file is never held whole. */
async function hashStreaming(file: OpenedFile): Promise<string> {
  const hash = createHash('sha384');
  const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  let position = 0;
  for (;;) {
    const { bytesRead } = await readAsync(file.fd, buffer, 0, CHUNK_BYTES, position);
    if (bytesRead === 0) break;
    hash.update(buffer.subarray(0, bytesRead));
    position += bytesRead;
  }
  return `"sha384-${hash.digest('base64')}"`;
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
