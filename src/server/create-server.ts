/**
 * A ready-made node:http server for a build output folder, used by `ferry serve` and by tests. Listen errors
 * (port in use, no permission) reject with a typed error instead of being emitted where nobody listens. Its
 * connections are bounded (limits.ts): how many it holds, how long a request may take to arrive, how long an idle
 * keep-alive or a stalled connection is kept, so slow or silent clients cannot exhaust its descriptors.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvalidOptionError } from '../common/errors.ts';
import { createRequestHandler } from './handler.ts';
import { resolveLimits, type ServerLimits } from './limits.ts';

/** Options of {@link createFerryServer}. */
export interface FerryServerOptions {
  /** The build output folder to serve. */
  dir: string;
  /** The TCP port; 0 picks a free one (read it from `url`). Default 3001. */
  port?: number;
  /** The interface to listen on. Default `127.0.0.1`, so nothing is exposed beyond the machine by accident. */
  host?: string;
  /** Called with errors that were answered with 500. */
  onError?: (error: unknown) => void;
  /**
   * Connection and push-stream limits (`maxSubscribers`, `streamLifetime`, `maxConnections`, `headersTimeout`,
   * `requestTimeout`, `keepAliveTimeout`, `idleTimeout`); the defaults follow the descriptor limit (limits.ts).
   */
  limits?: ServerLimits;
}

/** A listening server; `close()` stops accepting, lets requests in flight finish briefly, then ends connections. */
export interface FerryServer {
  /** The base URL, ending with `/`: the manifest is at `${url}mf-manifest.json`. */
  url: string;
  server: Server;
  close(): Promise<void>;
}

const KNOWN = new Set(['dir', 'port', 'host', 'onError', 'limits']);
// In-flight responses are small files; a second is plenty before connections are cut.
const CLOSE_GRACE_MS = 1000;

/**
 * Serves `dir` over HTTP at the root path and resolves once the server listens.
 *
 * @example
 * ```ts
 * const { url, close } = await createFerryServer({ dir: 'dist/federation', port: 0 });
 * console.log(`${url}mf-manifest.json`);
 * await close();
 * ```
 */
export async function createFerryServer(options: FerryServerOptions): Promise<FerryServer> {
  for (const key of Object.keys(options ?? {})) {
    if (!KNOWN.has(key)) {
      throw new InvalidOptionError(
        `createFerryServer() got an unknown option "${key}"; the options are dir, port, host, onError and limits.`,
        { option: key },
      );
    }
  }
  const { dir, port = 3001, host = '127.0.0.1', onError } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidOptionError(
      `createFerryServer() option "port" must be a whole number from 0 to 65535, got ${port}.`,
      {
        option: 'port',
      },
    );
  }
  if (typeof host !== 'string' || host === '') {
    throw new InvalidOptionError('createFerryServer() option "host" must be a host name or IP address.', {
      option: 'host',
    });
  }
  const limits = resolveLimits(options.limits, 'createFerryServer()');
  const { maxSubscribers, streamLifetime } = limits;
  const handler = createRequestHandler({ dir, onError, limits: { maxSubscribers, streamLifetime } });
  const server = createServer(
    {
      headersTimeout: limits.headersTimeout,
      requestTimeout: limits.requestTimeout,
      keepAliveTimeout: limits.keepAliveTimeout,
      // Node checks the two timeouts above only this often (default 30 s, which would let them overrun by as much).
      connectionsCheckingInterval: Math.max(100, Math.min(limits.headersTimeout, limits.requestTimeout, 5000) / 2),
    },
    handler,
  );
  // Beyond this, new connections are closed at once (their clients retry): an ordinary request still finds a
  // descriptor for its file.
  server.maxConnections = limits.maxConnections;
  // A connection where no byte moved for this long (a client that stopped reading a file) is closed. Push streams
  // send a comment every 15 s, so a subscriber that reads never gets here.
  server.setTimeout(limits.idleTimeout, (socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    const onListenError = (error: NodeJS.ErrnoException) => {
      reject(listenError(error, host, port));
    };
    server.once('error', onListenError);
    server.listen(port, host, () => {
      server.off('error', onListenError);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost}:${address.port}/`,
    server,
    close: () => {
      // Event streams never end on their own: end them, or close() would wait for the grace period.
      handler.close();
      return closeServer(server);
    },
  };
}

function listenError(error: NodeJS.ErrnoException, host: string, port: number): Error {
  const where = `${host}:${port}`;
  if (error.code === 'EADDRINUSE') {
    return new InvalidOptionError(
      `Port ${port} on ${host} is already in use. Stop the process that listens on ${where}, or choose another ` +
        'port (--port, or the PORT environment variable; 0 picks a free one).',
      { option: 'port', cause: error },
    );
  }
  if (error.code === 'EACCES') {
    return new InvalidOptionError(
      `Not allowed to listen on ${where} (ports below 1024 need privileges). Choose a port of 1024 or above.`,
      { option: 'port', cause: error },
    );
  }
  if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND') {
    return new InvalidOptionError(
      `Cannot listen on host ${host}: it is not an address of this machine. Use 127.0.0.1, 0.0.0.0 or a local address.`,
      { option: 'host', cause: error },
    );
  }
  return error;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((error) =>
      error && (error as NodeJS.ErrnoException).code !== 'ERR_SERVER_NOT_RUNNING' ? reject(error) : resolve(),
    );
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS).unref();
  });
}
