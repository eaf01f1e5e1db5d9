/**
 * `ferry serve [dir]`: serves a build output folder over HTTP until SIGINT or SIGTERM. Prints one line when it
 * listens (scripts and tests parse it) and nothing per request unless `--log` is given.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { InvalidOptionError } from '../common/errors.ts';
import { createFerryServer } from '../server/index.ts';

const DEFAULT_DIR = 'dist/federation';
const DEFAULT_PORT = 3001;

const HELP = `Usage: ferry serve [dir] [--port N] [--host H] [--log] [--max-subscribers N] [--max-connections N]
                         [--stream-lifetime ms]

Serves a build output folder (default ${DEFAULT_DIR}) over HTTP: the manifest, its signature and the container
are revalidated on every use (no-cache + ETag), content-hashed files are cached as immutable.

Options:
  --port N   TCP port (default: the PORT environment variable, else ${DEFAULT_PORT}; 0 picks a free one)
  --host H   interface to listen on (default 127.0.0.1; 0.0.0.0 listens on every interface)
  --log      print one line per request
  --max-subscribers N   event-stream subscribers kept at once; more get 503 and poll (default: half the
                        descriptor limit, at most 10000)
  --max-connections N   connections held at once (default: two thirds of the descriptor limit)
  --stream-lifetime ms  end each event stream after about this long; hosts reconnect (default 600000)
  --help     show this help

Stops cleanly on Ctrl+C (SIGINT) or SIGTERM.
`;

function parseCount(text: string | undefined, flag: string, what: string): number | undefined {
  if (text === undefined) return undefined;
  const value = /^\d{1,15}$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= 1)) {
    throw new InvalidOptionError(
      `${flag} must be a whole number of ${what} of at least 1, got ${JSON.stringify(text)}.`,
      {
        option: flag.slice(2),
      },
    );
  }
  return value;
}

function parsePort(text: string, source: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(port >= 0 && port <= 65535)) {
    throw new InvalidOptionError(
      `${source} must be a port number from 0 to 65535 (0 picks a free port), got ${JSON.stringify(text)}.`,
      { option: 'port' },
    );
  }
  return port;
}

/**
 * Runs `ferry serve` and resolves to the exit code once the server was stopped by a signal.
 *
 * @example
 * ```sh
 * ferry serve dist/federation --port 3001
 * # ferry serve: serving dist/federation at http://127.0.0.1:3001/
 * ```
 */
export async function runServe(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      log: { type: 'boolean', default: false },
      'max-subscribers': { type: 'string' },
      'max-connections': { type: 'string' },
      'stream-lifetime': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length > 1) {
    process.stderr.write(
      `ferry serve: expected at most one folder, got ${positionals.length} (${positionals.join(', ')}). ` +
        'Run `ferry serve --help` for its options.\n',
    );
    return 2;
  }
  const dir = positionals[0] ?? DEFAULT_DIR;
  const envPort = process.env['PORT'];
  let port = DEFAULT_PORT;
  if (values.port !== undefined) port = parsePort(values.port, '--port');
  else if (envPort !== undefined && envPort !== '') port = parsePort(envPort, 'The PORT environment variable');
  const host = values.host ?? '127.0.0.1';

  const limits = {
    maxSubscribers: parseCount(values['max-subscribers'], '--max-subscribers', 'subscribers'),
    maxConnections: parseCount(values['max-connections'], '--max-connections', 'connections'),
    streamLifetime: parseCount(values['stream-lifetime'], '--stream-lifetime', 'milliseconds'),
  };
  const served = await createFerryServer({
    dir,
    port,
    host,
    limits,
    // The response said only "Internal Server Error"; the operator gets the details.
    onError: (error) => {
      const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
      process.stderr.write(`ferry serve: failed to serve a request: ${detail}\n`);
    },
  });
  if (values.log) {
    served.server.on('request', (req, res) => {
      const started = performance.now();
      res.on('close', () => {
        const ms = (performance.now() - started).toFixed(1);
        process.stdout.write(`${req.method} ${req.url} ${res.statusCode} ${ms}ms\n`);
      });
    });
  }
  process.stdout.write(`ferry serve: serving ${dir} at ${served.url}\n`);

  return new Promise<number>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      served.close().then(
        () => resolve(0),
        (error: unknown) => {
          process.stderr.write(`ferry serve: failed to close the server: ${String(error)}\n`);
          resolve(1);
        },
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
