/**
 * The HTTP servers that serve a remote's build output during the bench, counting what hosts fetch: requests, body
 * bytes and bytes on the wire (headers included, from the sockets). Both remotes run in the bench's own process so
 * the count is read directly, without a second channel.
 *
 * - `staticServer(dir)`: the small static server the article's webpack remote needs (nothing in the article serves
 *   its dist/, fix 5): GET a file by name, 404 otherwise, no caching headers.
 * - `ferryServer(dir)`: ferry's own request handler (`createRequestHandler` from ferry/server), as the demo's auth
 *   service mounts it.
 *
 * @example
 * ```ts
 * const remote = await startCountingServer(staticHandler('/tmp/x/dist'));
 * remote.reset(); // … start a host …
 * remote.counts(); // { requests: 2, bodyBytes: 82388, wireBytes: 82901, paths: ['/remoteEntry.js', …] }
 * ```
 */
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join, normalize } from 'node:path';
import { createRequestHandler } from '../src/server/index.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** What hosts fetched since the last reset. */
export interface FetchCounts {
  requests: number;
  bodyBytes: number;
  wireBytes: number;
  paths: string[];
}

/** A listening counting server. `stop()` closes it; `start()` listens again on the same port. */
export interface CountingServer {
  port: number;
  reset(): void;
  counts(): FetchCounts;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** The article's missing static server: serves the files of `dir` by name. */
export function staticHandler(dir: string): Handler {
  return (req, res) => {
    const name = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^\/+/, '');
    if (req.method !== 'GET' || name === '' || name.startsWith('..')) {
      res.writeHead(404).end();
      return;
    }
    readFile(join(dir, name)).then(
      (body) => {
        res.writeHead(200, { 'content-type': 'application/javascript', 'content-length': body.byteLength });
        res.end(body);
      },
      () => res.writeHead(404).end('Not found'),
    );
  };
}

/** ferry's request handler for a build output folder; `close()` ends its event streams and folder watch. */
export function ferryHandler(dir: string): Handler & { close(): void } {
  return createRequestHandler({ dir });
}

/** Starts a server on a free loopback port that counts requests and bytes. */
export async function startCountingServer(handler: Handler): Promise<CountingServer> {
  let counts: FetchCounts = { requests: 0, bodyBytes: 0, wireBytes: 0, paths: [] };
  // Socket bytes are read as a difference, so connections that outlive a reset count only their new bytes.
  const sockets = new Map<Socket, number>();
  let closedBytes = 0;
  const wrap: Handler = (req, res) => {
    counts.requests += 1;
    counts.paths.push(req.url ?? '');
    const write = res.write.bind(res);
    const end = res.end.bind(res);
    const add = (chunk: unknown) => {
      if (typeof chunk === 'string') counts.bodyBytes += Buffer.byteLength(chunk);
      else if (chunk instanceof Uint8Array) counts.bodyBytes += chunk.byteLength;
    };
    res.write = ((chunk: unknown, ...rest: unknown[]) => {
      add(chunk);
      return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof res.write;
    res.end = ((chunk?: unknown, ...rest: unknown[]) => {
      if (typeof chunk !== 'function') add(chunk);
      return (end as (...args: unknown[]) => ServerResponse)(chunk, ...rest);
    }) as typeof res.end;
    handler(req, res);
  };
  let server: Server = createServer(wrap);
  const track = (socket: Socket) => {
    sockets.set(socket, 0);
    socket.once('close', () => {
      closedBytes += socket.bytesWritten - (sockets.get(socket) ?? 0);
      sockets.delete(socket);
    });
  };
  server.on('connection', track);
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  await listen();
  return {
    get port() {
      return port;
    },
    reset() {
      counts = { requests: 0, bodyBytes: 0, wireBytes: 0, paths: [] };
      closedBytes = 0;
      for (const socket of sockets.keys()) sockets.set(socket, socket.bytesWritten);
    },
    counts() {
      let wire = closedBytes;
      for (const [socket, start] of sockets) wire += socket.bytesWritten - start;
      return { ...counts, paths: [...counts.paths], wireBytes: wire };
    },
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
    async start() {
      server = createServer(wrap);
      server.on('connection', track);
      await listen();
    },
  };
}
