/**
 * The push channel: `mf-manifest.events`, a server-sent event stream that announces each new manifest in the build
 * output folder, so hosts pick up a deployment within moments instead of at their next poll. The folder is watched
 * with fs.watch, and its manifest is also stat-polled every second (fs.watch misses changes on some file systems:
 * network mounts, some containers). Changes are debounced, and an event is only sent when the manifest's bytes
 * changed: `event: manifest` with `{ integrity, version, release }`. A new subscriber gets the current one at once.
 *
 * The event carries no authority: a host fetches and verifies the manifest itself. Nothing is watched while nobody
 * subscribes.
 */
import { type FSWatcher, watch } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { integrityOf, MANIFEST_FILE, SIGNATURE_FILE } from '../manifest/index.ts';

/** The name hosts ask for, beside `mf-manifest.json`. */
export const EVENTS_FILE = 'mf-manifest.events';

const DEBOUNCE_MS = 100;
const STAT_POLL_MS = 1000;
const HEARTBEAT_MS = 15_000;

export interface ManifestEvents {
  /** Answers a subscription request with the event stream. */
  subscribe(req: IncomingMessage, res: ServerResponse): void;
  /** Ends every stream and stops watching. */
  close(): void;
}

/**
 * Creates the event source for one build output folder.
 *
 * @example
 * ```ts
 * const events = createManifestEvents('/srv/auth/dist/federation');
 * http.createServer((req, res) => events.subscribe(req, res));
 * ```
 */
export function createManifestEvents(dir: string): ManifestEvents {
  const clients = new Set<ServerResponse>();
  let last: string | undefined;
  let watcher: FSWatcher | undefined;
  let poll: NodeJS.Timeout | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let debounce: NodeJS.Timeout | undefined;
  let lastStat = '';

  const read = async (): Promise<string | undefined> => {
    try {
      const bytes = await readFile(join(dir, MANIFEST_FILE));
      const { ferry } = JSON.parse(bytes.toString('utf8')) as { ferry?: { version?: unknown; release?: unknown } };
      return JSON.stringify({ integrity: integrityOf(bytes), version: ferry?.version, release: ferry?.release });
    } catch {
      // mid-rebuild or not a ferry folder: nothing to announce yet
      return undefined;
    }
  };
  const send = (res: ServerResponse, data: string) => res.write(`event: manifest\ndata: ${data}\n\n`);
  const announce = async () => {
    const data = await read();
    if (data === undefined || data === last) return;
    last = data;
    for (const res of clients) send(res, data);
  };
  // A build writes the manifest, then its signature: wait for quiet before reading.
  const changed = () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => void announce(), DEBOUNCE_MS);
  };

  const start = () => {
    try {
      watcher = watch(dir, (_, name) => {
        if (name === null || name === MANIFEST_FILE || name === SIGNATURE_FILE) changed();
      });
      watcher.on('error', () => watcher?.close());
    } catch {
      // fs.watch is unavailable here: the stat poll below still sees changes
    }
    poll = setInterval(async () => {
      const info = await stat(join(dir, MANIFEST_FILE)).catch(() => undefined);
      const key = info ? `${info.ino}:${info.size}:${info.mtimeMs}` : '';
      if (key !== lastStat) {
        lastStat = key;
        changed();
      }
    }, STAT_POLL_MS);
    heartbeat = setInterval(() => {
      for (const res of clients) res.write(': ping\n\n');
    }, HEARTBEAT_MS);
  };
  const stop = () => {
    watcher?.close();
    clearInterval(poll);
    clearInterval(heartbeat);
    clearTimeout(debounce);
    watcher = undefined;
    poll = heartbeat = debounce = undefined;
  };

  return {
    subscribe(req, res) {
      res.writeHead(200, {
        'Content-Type': 'text/event-stream; charset=utf-8',
        'Cache-Control': 'no-store',
        'X-Content-Type-Options': 'nosniff',
        // Proxies such as nginx buffer responses unless told not to, which would hold events back.
        'X-Accel-Buffering': 'no',
      });
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      res.write('retry: 2000\n\n');
      if (clients.size === 0) start();
      clients.add(res);
      void read().then((data) => {
        if (data === undefined || !clients.has(res)) return;
        last ??= data;
        send(res, data);
      });
      res.on('close', () => {
        clients.delete(res);
        if (clients.size === 0) stop();
      });
    },
    close() {
      for (const res of clients) res.end();
      clients.clear();
      stop();
    },
  };
}
