/**
 * The host's disk cache as the load pipeline uses it: verified bytes in and out of the content-addressed store
 * (file-cache.ts), each remote's manifest record, pruning in the background (cache-prune.ts), and every write counted
 * until it settles, so `host.close()` waits for them. A failed write is a warning, never a failed import.
 */
import { integrityOf } from '../../manifest/index.ts';
import type { ResolvedRemote } from '../options/remote-options.ts';
import type { Warn } from '../warnings.ts';
import { CachePruner } from './cache-prune.ts';
import { type CachedEntry, FileCache, type ManifestRecord } from './file-cache.ts';

/** The most a cached signature file may weigh (the build writes a few hundred bytes). */
export const MAX_SIGNATURE_BYTES = 4096;

/** The manifest bytes (and signature) the host has cached for a remote, read back and re-hashed. */
export interface CachedCopy {
  record: ManifestRecord;
  bytes: Uint8Array;
  signature: Uint8Array | undefined;
}

export interface HostCacheOptions {
  dir: string;
  hostName: string;
  /** The least time between two prunings, or false (never). */
  pruneInterval: number | false;
  /** The largest manifest the host accepts (and so the largest it can have cached). */
  maxManifestBytes: number;
  /** How many versions of the remote with this name and manifest URL to keep. */
  versionsOf(remoteName: string, url: string): number;
  warn: Warn;
}

export class HostCache {
  readonly files: FileCache;
  readonly #pruner: CachePruner;
  readonly #warn: Warn;
  readonly #maxManifestBytes: number;
  readonly #writes = new Set<Promise<unknown>>();
  /** After close(), nothing is written: a check still on its way when the host closed leaves the folder alone. */
  #closed = false;

  constructor(options: HostCacheOptions) {
    this.#warn = options.warn;
    this.#maxManifestBytes = options.maxManifestBytes;
    this.files = new FileCache(options.dir, (code, message) => options.warn(code, message), {
      versionsOf: options.versionsOf,
      maxManifestBytes: options.maxManifestBytes,
      onNewManifest: () => this.#pruner.request(),
    });
    this.#pruner = new CachePruner(this.files, {
      host: options.hostName,
      interval: () => options.pruneInterval,
      warn: (code, message) => options.warn(code, message),
    });
  }

  get dir(): string {
    return this.files.dir;
  }

  /** Verified bytes of a file of `size` bytes stored under `integrity`; undefined when absent or corrupt. */
  async read(integrity: string, size: number): Promise<Uint8Array | undefined> {
    return (await this.readEntry(integrity, size))?.bytes;
  }

  /** {@link read}, with the file the bytes were read from (what stack traces of code served from the cache show). */
  async readEntry(integrity: string, size: number): Promise<CachedEntry | undefined> {
    const entry = await this.files.readEntry(integrity, size);
    return entry?.bytes.byteLength === size ? entry : undefined;
  }

  /**
   * Counts a cache write until it settles, so that {@link idle} (and `host.close()`) can wait for it: a file fetched
   * beside one that failed may still be on its way to the disk when the import has already failed.
   */
  track<T>(write: Promise<T>): Promise<T> {
    this.#writes.add(write);
    const done = () => this.#writes.delete(write);
    write.then(done, done);
    return write;
  }

  /** Resolves when no cache write is in flight. */
  async idle(): Promise<void> {
    while (this.#writes.size > 0) await Promise.allSettled([...this.#writes]);
  }

  /** Keeps verified bytes; a failed write is a warning. `started`: see FileCache.write. */
  store(integrity: string, bytes: Uint8Array, started?: () => void): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return this.#keep(this.files.write(integrity, bytes, started));
  }

  /** Tracks a write of verified bytes; its failure is a warning. */
  async #keep(write: Promise<void>): Promise<void> {
    await this.track(write).catch((error: unknown) => {
      this.#warn(
        'FERRY_CACHE_WRITE',
        `The host could not write a verified file to its cache ${this.dir} (${(error as Error).message}); ` +
          'it keeps working, but cannot start from the cache while a remote is down. Make `cache.dir` a folder the ' +
          "host's user can write.",
      );
    });
  }

  /**
   * The manifest (and signature) last accepted for `remote`, if its record and bytes are all there and intact: held by
   * the record (format 2), or in the content store under the integrities it names (a record of format 1).
   */
  async readCopy(remote: ResolvedRemote): Promise<CachedCopy | undefined> {
    const record = await this.files.readRecord(remote.name, remote.manifestUrl);
    if (!record) return undefined;
    if (record.manifestBytes) {
      const { manifestBytes: bytes, signatureBytes: signature } = record;
      if (bytes.byteLength > this.#maxManifestBytes || (signature?.byteLength ?? 0) > MAX_SIGNATURE_BYTES)
        return undefined;
      return { record, bytes, signature };
    }
    const [bytes, signature] = await Promise.all([
      this.files.read(record.manifest, this.#maxManifestBytes),
      record.signature === undefined ? undefined : this.files.read(record.signature, MAX_SIGNATURE_BYTES),
    ]);
    if (!bytes || (record.signature !== undefined && !signature)) return undefined;
    return { record, bytes, signature };
  }

  /**
   * Makes a manifest (its bytes and signature in the record itself) the remote's record. Resolves when it is written;
   * a failure is a warning.
   */
  async writeRecord(
    remote: ResolvedRemote,
    bytes: Uint8Array,
    signature: Uint8Array | undefined,
    etag: string | undefined,
  ): Promise<void> {
    if (this.#closed) return;
    const record: ManifestRecord = {
      formatVersion: 2,
      url: remote.manifestUrl,
      manifest: integrityOf(bytes),
      ...(signature ? { signature: integrityOf(signature), signatureBytes: signature } : {}),
      manifestBytes: bytes,
      ...(etag ? { etag } : {}),
      fetchedAt: Date.now(),
    };
    await this.track(this.files.writeRecord(remote.name, record)).catch((error: unknown) =>
      this.#recordFailed(remote, error),
    );
  }

  /**
   * The remote confirmed its cached copy with a 304: the record is marked confirmed now, or written again when the
   * ETag changed or it is a record of format 1 (then its manifest moves into it, and the content store's copies are
   * left to pruning). A failure is a warning, as for {@link writeRecord}.
   */
  async confirmRecord(remote: ResolvedRemote, cached: CachedCopy, etag: string | undefined): Promise<void> {
    if (etag !== cached.record.etag || cached.record.formatVersion === 1) {
      return this.writeRecord(remote, cached.bytes, cached.signature, etag);
    }
    if (this.#closed) return;
    const { previous: _history, ...current } = cached.record;
    const record: ManifestRecord = { ...current, fetchedAt: Date.now() };
    await this.track(this.files.confirmRecord(remote.name, record)).catch((error: unknown) =>
      this.#recordFailed(remote, error),
    );
  }

  #recordFailed(remote: ResolvedRemote, error: unknown): void {
    this.#warn(
      'FERRY_CACHE_WRITE',
      `The host could not record the manifest of remote "${remote.alias}" in its cache ${this.dir} ` +
        `(${(error as Error).message}); it cannot start from the cache while that remote is down. Make ` +
        "`cache.dir` a folder the host's user can write.",
    );
  }

  /** Stops pruning and writing. */
  close(): void {
    this.#closed = true;
    this.#pruner.close();
  }
}
