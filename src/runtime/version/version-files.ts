/**
 * The third stage of a load: the files a version needs, each fetched once (concurrent loads share one request),
 * capped at the size the manifest declares, and checked against the manifest's size and integrity
 * (trust/file-integrity.ts) before anything else sees it. A version whose manifest came from the cache takes its
 * files from the cache (re-hashed on read), so an unchanged remote costs a 304 and no file bytes; when the remote goes
 * down mid-load, the cached copy of exactly those bytes stands in. Verified bytes are kept in the cache: `verify` hands
 * them over while that write is still going (to compile them meanwhile: compiling runs none of their code), `fetch`
 * once it is done, and `stored` settles when every write started so far is, so no code runs and no record names a
 * version before its files are on disk.
 */
import type { FileEntry, Manifest } from '../../manifest/index.ts';
import type { HostCache } from '../cache/host-cache.ts';
import { channels, type FileTraceContext, tracing } from '../channels.ts';
import { isUnavailable } from '../net/failures.ts';
import type { FetchBytesResult } from '../net/fetch-bytes.ts';
import type { Fetcher, RemoteRequestState } from '../net/remote-client.ts';
import type { ResolvedRemote } from '../options/remote-options.ts';
import { checkFileIntegrity } from '../trust/file-integrity.ts';

/** What the files of a version are fetched with. */
export interface FileSource {
  host: string;
  remote: ResolvedRemote;
  state: RemoteRequestState;
  client: Fetcher;
  cache: HostCache;
}

export class VersionFiles {
  readonly #manifest: Manifest;
  readonly #fromCache: boolean;
  readonly #source: FileSource;
  readonly #fetches = new Map<string, Promise<Uint8Array>>();
  readonly #verified = new Map<string, Uint8Array>();
  /** The cache writes of the files fetched from the network (they never reject: a failed write is a warning). */
  readonly #stores = new Map<string, Promise<void>>();

  constructor(manifest: Manifest, fromCache: boolean, source: FileSource) {
    this.#manifest = manifest;
    this.#fromCache = fromCache;
    this.#source = source;
  }

  /** The verified bytes of file `name`, once they are also in the cache (to run them, or hand them to other code). */
  async fetch(name: string): Promise<Uint8Array> {
    const bytes = await this.verify(name);
    await this.#stores.get(name);
    return bytes;
  }

  /**
   * The verified bytes of file `name`, possibly before the cache has them (to compile them: run them only after
   * {@link fetch} or {@link stored}); concurrent calls share one fetch, a failed one is tried again next time.
   */
  verify(name: string): Promise<Uint8Array> {
    let pending = this.#fetches.get(name);
    if (!pending) {
      pending = tracing.file.hasSubscribers ? this.#traced(name) : this.#fetchAndVerify(name);
      this.#fetches.set(name, pending);
      pending.catch(() => this.#fetches.delete(name));
    }
    return pending;
  }

  /** The bytes of a file already fetched and verified, if any (what the evaluator compiles). */
  verified(name: string): Uint8Array | undefined {
    return this.#verified.get(name);
  }

  /** Settles when the cache writes of every file verified so far are done (or failed, which is a warning). */
  async stored(): Promise<void> {
    await Promise.all(this.#stores.values());
  }

  /** Drops every file (the version was disposed). */
  clear(): void {
    this.#fetches.clear();
    this.#verified.clear();
    this.#stores.clear();
  }

  /** {@link fetch} on `tracing:ferry:file:*` (only built when someone subscribes). */
  #traced(name: string): Promise<Uint8Array> {
    const { host, remote } = this.#source;
    const trace: FileTraceContext = {
      host,
      remote: remote.alias,
      version: this.#manifest.ferry.version,
      file: name,
      url: new URL(name, remote.manifestUrl).href,
    };
    return tracing.file.tracePromise(() => this.#fetchAndVerify(name, trace), trace);
  }

  async #fetchAndVerify(name: string, trace?: FileTraceContext): Promise<Uint8Array> {
    const { host, remote, state, client, cache } = this.#source;
    const entry = this.#manifest.ferry.files[name]!;
    const url = new URL(name, remote.manifestUrl).href;
    // The disk cache is content-addressed and re-hashed on read: a hit is exactly the bytes the manifest names.
    const cached = this.#fromCache ? await cache.read(entry.integrity, entry.size) : undefined;
    if (cached) {
      if (trace) Object.assign(trace, { source: 'cache', bytes: cached.byteLength });
      this.#verified.set(name, cached);
      return cached;
    }
    const started = performance.now();
    // The cap is the declared size: a longer body is cut off there and refused.
    const result = await client({ url, state, remote, maxBytes: entry.size, what: `file ${name}` }).catch(
      (error: unknown) => this.#cachedOnError(entry, error),
    );
    channels.fetch.publish({
      host,
      remote: remote.alias,
      url,
      status: result.status,
      bytes: result.bytes.byteLength,
      durationMs: performance.now() - started,
    });
    // A remote that went down mid-load is answered from the cache (#cachedOnError): its `url` is a file path.
    const source = /^https?:/.test(result.url) ? 'network' : 'cache';
    if (trace) Object.assign(trace, { source, status: result.status, bytes: result.bytes.byteLength });
    checkFileIntegrity(result.bytes, entry, { remote: remote.alias, url, file: name });
    this.#verified.set(name, result.bytes);
    // Handed over once the bytes are on their way to the disk (one system call in the thread pool), not before: a
    // write that still needs the main thread would wait for the compile it was meant to run beside.
    const underWay = Promise.withResolvers<void>();
    const store = cache.store(entry.integrity, result.bytes, underWay.resolve);
    this.#stores.set(name, store);
    await Promise.race([underWay.promise, store]);
    return result.bytes;
  }

  /** The remote could not serve the file: the cached copy of exactly those bytes when it is unavailable, else the error. */
  async #cachedOnError(entry: FileEntry, error: unknown): Promise<FetchBytesResult> {
    const { cache } = this.#source;
    const cached = isUnavailable(error) ? await cache.readEntry(entry.integrity, entry.size) : undefined;
    if (!cached) throw error;
    return { status: 200, bytes: cached.bytes, etag: undefined, url: cached.path };
  }
}
