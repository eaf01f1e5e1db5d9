/**
 * The push channel: `mf-manifest.events`, a server-sent event stream that announces each new manifest in the build
 * output folder, so hosts pick up a deployment within moments instead of at their next poll. The folder is watched
 * with fs.watch, and its manifest is also stat-polled every second (fs.watch misses changes on some file systems:
 * network mounts, some containers). An event is only sent when the manifest's bytes changed: `event: manifest` with
 * `{ integrity, version, release }` and, for a small manifest, its bytes and its signature's
 * (src/manifest/manifest-event.ts), so a host needs one request for a new build instead of three. A new subscriber
 * gets the current one at once.
 *
 * When the folder changes, the manifest is read at once. A whole build is announced without waiting: one whose
 * signature copy made for exactly those bytes is there and complete (`mf-manifest.<hash>.sig`, which `ferry build`
 * writes before the manifest), or one with no signature at all (an unsigned `ferry build` removes the fixed-name
 * signature before it writes the manifest). Anything else (another tool's copy in progress, a manifest written in place
 * beside an older signature) is debounced: read again after 100 ms of quiet, as such a tool may write the manifest
 * before its signature. Only the newest change announces: a read started before a later change is dropped, so an
 * older build is never announced after a newer one.
 *
 * The event carries no authority: a host verifies the bytes it carries as it verifies a fetched manifest, and fetches
 * the manifest itself when they do not verify. Nothing is watched while nobody subscribes.
 *
 * A manifest that changed but cannot be read (out of descriptors, a half-written copy by another deploy tool) is read
 * again with backoff (0.1 s doubling to 5 s, 20 attempts, about a minute and a half), so the change is still
 * announced: the stat poll alone would not notice again, since the file does not change any more. A missing manifest
 * is not retried (its creation is a change the watch and the poll see).
 *
 * Limits (limits.ts): at most `maxSubscribers` streams (the caller answers the others 503, and their hosts poll);
 * each stream is ended after its lifetime (90–100 % of `streamLifetime`, so they do not all end together) and the host
 * reconnects, getting the current manifest at once; a subscriber that stops reading is dropped once 64 KiB of events
 * wait for it, rather than kept in memory.
 */
import { type FSWatcher, watch } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { MANIFEST_FILE, manifestEventData, SIGNATURE_FILE, signatureFileFor } from '../manifest/index.ts';

/** The name hosts ask for, beside `mf-manifest.json`. */
export const EVENTS_FILE = 'mf-manifest.events';

const DEBOUNCE_MS = 100;
const STAT_POLL_MS = 1000;
const HEARTBEAT_MS = 15_000;
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 5000;
const RETRY_ATTEMPTS = 20;
// Events are tiny (a comment every 15 s, an announcement per build): this much unread means the client is gone.
const MAX_UNREAD_BYTES = 64 * 1024;

/** True when `bytes` parse as JSON: a file written whole, not one read half-way through another tool's copy. */
function isWholeJson(bytes: Buffer): boolean {
  try {
    JSON.parse(bytes.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}

export interface ManifestEventsOptions {
  /** Streams kept at once (see {@link ManifestEvents.full}). */
  maxSubscribers: number;
  /** Milliseconds after which a stream is ended (each gets 90–100 % of it); `Infinity`: never. */
  streamLifetime: number;
  /** Quiet wanted before a change that is not a whole build is read again (default 100 ms; tests). */
  quietMs?: number;
}

export interface ManifestEvents {
  /** True when `maxSubscribers` streams are open: the caller answers a new subscription 503 instead. */
  readonly full: boolean;
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
export function createManifestEvents(
  dir: string,
  options: ManifestEventsOptions = {
    maxSubscribers: Number.POSITIVE_INFINITY,
    streamLifetime: Number.POSITIVE_INFINITY,
  },
): ManifestEvents {
  const clients = new Set<ServerResponse>();
  let last: string | undefined;
  let watcher: FSWatcher | undefined;
  let poll: NodeJS.Timeout | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let debounce: NodeJS.Timeout | undefined;
  let lastStat = '';

  /**
   * The current manifest's event data for a new subscriber: reads in flight are shared, so a thousand hosts
   * subscribing at once cost one read. (An announcement after a change reads afresh, never joining an older read.)
   */
  let reading: Promise<string | 'missing' | 'failed'> | undefined;
  const read = (): Promise<string | 'missing' | 'failed'> => {
    reading ??= readData().finally(() => {
      reading = undefined;
    });
    return reading;
  };
  /** The event data, `missing` when there is no manifest, `failed` when it could not be read now. */
  const readData = async (): Promise<string | 'missing' | 'failed'> => {
    const read = await readBuild();
    return typeof read === 'string' ? read : read.data;
  };
  /**
   * The event data and whether it is a whole build (`whole`: the manifest with the complete signature copy made for
   * exactly its bytes, or with no signature at all); `missing` when there is no manifest, `failed` when it could not
   * be read now.
   */
  const readBuild = async (): Promise<{ data: string; whole: boolean } | 'missing' | 'failed'> => {
    let bytes: Buffer;
    try {
      bytes = await readFile(join(dir, MANIFEST_FILE));
    } catch (error) {
      // Not a ferry folder (yet): its manifest appearing is a change of its own. Anything else (EMFILE) may pass:
      // read again.
      return (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'failed';
    }
    const signature = await signatureOf(bytes);
    // Not JSON: a copy written in place and read half-way; read again.
    const data = manifestEventData(bytes, signature?.bytes);
    return data === undefined ? 'failed' : { data, whole: signature === undefined || signature.exact };
  };
  /**
   * The signature of exactly `bytes`: the copy `ferry build` writes under a name made from them (before the
   * manifest; `exact` when it is whole JSON, not a copy another tool is still writing), else `mf-manifest.json.sig`
   * (which a build in progress may already have replaced: hosts verify what they are sent, and fetch when it does not
   * verify). Undefined when neither can be read.
   */
  const signatureOf = async (bytes: Uint8Array): Promise<{ bytes: Buffer; exact: boolean } | undefined> => {
    try {
      const copy = await readFile(join(dir, signatureFileFor(bytes)));
      return { bytes: copy, exact: isWholeJson(copy) };
    } catch {
      // no copy: the fixed name, or none
    }
    try {
      return { bytes: await readFile(join(dir, SIGNATURE_FILE)), exact: false };
    } catch {
      return undefined;
    }
  };
  // Writes unless the client stopped reading; such a client is dropped (its close handler forgets it).
  const write = (res: ServerResponse, text: string | Buffer) => {
    if (res.writableLength > MAX_UNREAD_BYTES) res.destroy();
    else res.write(text);
  };
  // Encoded once per manifest and shared by every stream (announcements and new subscribers alike): with the
  // manifest's bytes in it, an event is up to ~23 KB, and a thousand streams each encoding it would hold a thousand
  // copies.
  let encoded: { data: string; event: Buffer } | undefined;
  const eventOf = (data: string): Buffer => {
    if (encoded?.data !== data) encoded = { data, event: Buffer.from(`event: manifest\ndata: ${data}\n\n`) };
    return encoded.event;
  };
  const publish = (data: string) => {
    if (data === last) return;
    last = data;
    const event = eventOf(data);
    for (const res of clients) write(res, event);
  };
  // The change being read: a read begun for an earlier one announces nothing (it may have read an older build).
  let generation = 0;
  const announce = async (attempt: number, change: number) => {
    const data = await readData();
    if (change !== generation) return;
    if (data === 'failed') {
      // Only while someone listens; a newer change (changed() clears the timer) starts over.
      if (attempt + 1 < RETRY_ATTEMPTS && clients.size > 0) {
        debounce = setTimeout(
          () => void announce(attempt + 1, change),
          Math.min(RETRY_FIRST_MS * 2 ** attempt, RETRY_MAX_MS),
        );
      }
      return;
    }
    if (data !== 'missing') publish(data);
  };
  // A whole build (the manifest with the signature made for its bytes, or with none) is announced at once; anything
  // else once the folder is quiet, as another tool's build may write the manifest, then its signature.
  const changed = () => {
    const change = ++generation;
    clearTimeout(debounce);
    debounce = undefined;
    void readBuild().then((read) => {
      if (change !== generation || read === 'missing') return;
      if (read !== 'failed' && read.whole) publish(read.data);
      else debounce = setTimeout(() => void announce(0, change), options.quietMs ?? DEBOUNCE_MS);
    });
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
      for (const res of clients) write(res, ': ping\n\n');
    }, HEARTBEAT_MS);
  };
  const stop = () => {
    watcher?.close();
    clearInterval(poll);
    clearInterval(heartbeat);
    clearTimeout(debounce);
    // A read in flight schedules nothing once nobody listens.
    generation++;
    watcher = undefined;
    poll = heartbeat = debounce = undefined;
  };

  return {
    get full() {
      return clients.size >= options.maxSubscribers;
    },
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
        if (data === 'missing' || data === 'failed' || !clients.has(res)) return;
        last ??= data;
        write(res, eventOf(data));
      });
      // Recycled: the host reconnects by itself (after the `retry` above) and is sent the current manifest.
      const lifetime = Number.isFinite(options.streamLifetime)
        ? setTimeout(() => res.end(), options.streamLifetime * (0.9 + Math.random() * 0.1))
        : undefined;
      lifetime?.unref();
      res.on('close', () => {
        clearTimeout(lifetime);
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
