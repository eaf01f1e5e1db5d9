/**
 * The host's content-addressed disk cache: verified bytes stored under their `sha384-` integrity, flat in
 * `<cache.dir>/files/` (`files/<name>`, the folder made once per process), and per remote a record of the last
 * manifest the host accepted in `<cache.dir>/remotes/`: the manifest's bytes and its signature's, with their
 * integrities, its ETag and when it was fetched, and the manifests accepted before it (`previous`, up to
 * `cache.versions` in all: each its integrity and the files it lists), which keep their files from being pruned
 * (cache-prune.ts).
 *
 * The record holds the manifest and signature themselves (format 2) since they are read and written only with it: two
 * files fewer to create per remote at a cold start and to read at every start from the cache (issue 21). Records of
 * format 1, written before, name them by integrity in the content store; they are read as they are and replaced by
 * format 2 when next written. A ferry before format 2 does not read a record of format 2 (its host fetches the
 * manifest instead) and its pruning stops at one (removing nothing, `FERRY_CACHE_PRUNE`): it never takes the files
 * such a record protects for unreferenced ones.
 * Every write is atomic (temporary file + rename). Entries up to 64 KiB are read synchronously, larger ones
 * asynchronously (regular-file.ts says why); writes stay asynchronous (creating a file costs more than the round trip
 * through the thread pool, which runs it beside a cold start's fetches). Every read is hashed again: an entry whose
 * bytes no longer match its name is deleted and reported, and the caller fetches the file instead — a corrupt entry is
 * never run.
 *
 * Nothing here is trusted more than the network: a cached manifest goes through the same signature, name, expiry and
 * rollback checks as a fetched one, and cached files are checked against that manifest.
 *
 * Caches written before the flat layout keep each entry in a folder named by its name's first two characters
 * (`files/<2 chars>/<name>`: one `mkdir` per file on a cold start). Those entries still serve: a read that finds no
 * flat entry looks there (only when `files/` holds such a folder, listed once per process), checks the entry exactly
 * as a flat one, and copies an intact one to the flat path, so the next start reads it flat. The legacy copy stays
 * (a ferry of before sharing or going back to the folder still finds it) until pruning finds it unreferenced.
 */

import { hash } from 'node:crypto';
import { mkdir, utimesSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { writeFileAtomic } from '../../common/atomic-write.ts';
import type { WarningCode } from '../../common/warnings.ts';
import { integrityOf } from '../../manifest/index.ts';
import { NotARegularFile, readRegularFile, readRegularFileAndStat } from './regular-file.ts';

/** One earlier accepted manifest of a remote, kept in its record so its files survive pruning. */
export interface ManifestVersion {
  /** Integrity of the manifest bytes. */
  manifest: string;
  /**
   * The integrities of the files the manifest lists (what its entry protects). Absent in an entry carried over from a
   * record of format 1, whose manifest (and `signature`) are in the content store, where pruning reads them.
   */
  files?: string[];
  /** Integrity of its signature file, when it was signed (entries from a record of format 1 only). */
  signature?: string;
  /** When the remote last served (or confirmed) it, epoch ms. */
  fetchedAt: number;
}

/** What the host remembers about a remote's last accepted manifest. */
export interface ManifestRecord {
  /**
   * 2: the record holds the manifest's and signature's bytes ({@link manifestBytes}); 1, records of before: they are
   * in the content store under {@link manifest} and {@link signature}.
   */
  formatVersion: 1 | 2;
  /** The remote's manifest URL. */
  url: string;
  /** Integrity of the manifest bytes. */
  manifest: string;
  /** Integrity of the signature file, when the manifest was signed. */
  signature?: string;
  /**
   * The manifest's bytes, hashed again when read (format 2). A record given to {@link FileCache.writeRecord} with
   * them is written in format 2, without them in format 1.
   */
  manifestBytes?: Uint8Array;
  /** The signature file's bytes, when the manifest was signed (format 2). */
  signatureBytes?: Uint8Array;
  /** The manifest's ETag, for conditional requests. */
  etag?: string;
  /** When the remote last served (or confirmed with a 304) this manifest, epoch ms. */
  fetchedAt: number;
  /**
   * The manifests accepted before this one, newest first (at most `cache.versions - 1`). Kept by {@link
   * FileCache.writeRecord}; absent in records written before ferry kept history, which load as records without it.
   */
  previous?: ManifestVersion[];
}

export interface FileCacheOptions {
  /** How many versions of a remote to keep in its record, the current one included (default 3). */
  versionsOf?: (remoteName: string, url: string) => number;
  /** The largest manifest a record may hold (default 1 MiB, `maxManifestBytes`'s default). */
  maxManifestBytes?: number;
  /** Called after a record was written whose manifest is new for its remote (pruning may be due). */
  onNewManifest?: (remoteName: string, url: string) => void;
}

const INTEGRITY = /^sha384-[A-Za-z0-9+/]{64}$/;
/** A record without its manifest is a few hundred bytes per kept version (and its files' integrities). */
const RECORD_OVERHEAD_BYTES = 1 << 20;
/** Base64 of a signature file (the host reads at most 4 KiB of one). */
const MAX_SIGNATURE_BASE64 = 8192;

/** Whether `value` is a well-formed `sha384-` integrity, the only kind of key the content store has. */
export function isCacheKey(value: unknown): value is string {
  return typeof value === 'string' && INTEGRITY.test(value);
}

/** The file name of a content entry: the integrity's digest in base64url (`sha384-` dropped). */
export function entryNameOf(integrity: string): string {
  return integrity.slice(7).replaceAll('+', '-').replaceAll('/', '_');
}

/** A folder of the layout before flat `files/`: named by the first two characters of its entries' names. */
const LEGACY_SHARD = /^[A-Za-z0-9_-]{2}$/;

/** Whether `name` (in `files/`) is named like a folder of the layout before flat `files/` (`files/<2 chars>/`). */
export function isLegacyShardName(name: string): boolean {
  return LEGACY_SHARD.test(name);
}

/** Where a content entry was in the layout before flat `files/`: `files/<first two characters>/<name>`. */
export function legacyPathOf(filesDir: string, integrity: string): string {
  const name = entryNameOf(integrity);
  return join(filesDir, name.slice(0, 2), name);
}

/** Verified bytes read from the cache, and the file they were read from. */
export interface CachedEntry {
  bytes: Uint8Array;
  path: string;
}

function isVersion(value: unknown): value is ManifestVersion {
  const version = value as Partial<ManifestVersion> | null;
  return (
    typeof version === 'object' &&
    version !== null &&
    typeof version.manifest === 'string' &&
    typeof version.fetchedAt === 'number' &&
    (version.signature === undefined || typeof version.signature === 'string') &&
    (version.files === undefined || (Array.isArray(version.files) && version.files.every(isCacheKey)))
  );
}

/**
 * The integrities of the files a manifest's bytes list (`ferry.files`); none when they are not a manifest (such a
 * manifest cannot be run, so its files are not needed).
 */
export function filesListedIn(manifestBytes: Uint8Array): string[] {
  let manifest: { ferry?: { files?: Record<string, { integrity?: unknown } | null> } } | null;
  try {
    manifest = JSON.parse(
      Buffer.from(manifestBytes.buffer, manifestBytes.byteOffset, manifestBytes.byteLength).toString('utf8'),
    );
  } catch {
    return [];
  }
  const files = manifest?.ferry?.files;
  if (typeof files !== 'object' || files === null) return [];
  return Object.values(files)
    .map((entry) => entry?.integrity)
    .filter(isCacheKey);
}

/** Bytes and their integrity as a record of format 2 holds them. */
export interface StoredBytes {
  integrity: string;
  base64: string;
}

function isStoredBytes(value: unknown, maxBase64: number): value is StoredBytes {
  const stored = value as Partial<StoredBytes> | null;
  return (
    typeof stored === 'object' &&
    stored !== null &&
    isCacheKey(stored.integrity) &&
    typeof stored.base64 === 'string' &&
    stored.base64.length <= maxBase64
  );
}

/** The bytes a record of format 2 holds (`{ integrity, base64 }`) when they hash to their integrity; else undefined. */
export function heldBytes(stored: StoredBytes): Buffer | undefined {
  const bytes = Buffer.from(stored.base64, 'base64');
  return integrityOf(bytes) === stored.integrity ? bytes : undefined;
}

function toStored(integrity: string, bytes: Uint8Array): StoredBytes {
  return {
    integrity,
    base64: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'),
  };
}

export class FileCache {
  readonly dir: string;
  /** `<cache.dir>/files`: the content entries, flat (and, in caches of before, in `<2 chars>/` folders). */
  readonly filesDir: string;
  /** `<cache.dir>/remotes`: one manifest record per remote name and manifest URL. */
  readonly recordsDir: string;
  /** The largest record read: the largest manifest it may hold, in base64, and the rest of it. */
  readonly maxRecordBytes: number;
  readonly #maxManifestBase64: number;
  readonly #warn: (code: WarningCode, message: string) => void;
  readonly #options: FileCacheOptions;
  /** Record writes in progress, by path: each merges the history on disk, so writes of one record take turns. */
  readonly #recordWrites = new Map<string, Promise<unknown>>();
  /** Record paths by remote name and manifest URL (one per remote the host has used). */
  readonly #recordPaths = new Map<string, string>();
  /** Folders this cache has made sure exist, so each is created once per process rather than probed at every write. */
  readonly #folders = new Map<string, Promise<void>>();
  /**
   * The legacy folders (`files/<2 chars>/`) in `files/`, listed at the first read that misses a flat entry (one
   * `readdir` per process at most): a cache with none costs no extra syscall per read.
   */
  #legacyShards: Promise<ReadonlySet<string>> | undefined;

  constructor(dir: string, warn: (code: WarningCode, message: string) => void, options: FileCacheOptions = {}) {
    this.dir = dir;
    this.filesDir = join(dir, 'files');
    this.recordsDir = join(dir, 'remotes');
    this.#warn = warn;
    this.#options = options;
    this.#maxManifestBase64 = Math.ceil((options.maxManifestBytes ?? 1 << 20) / 3) * 4;
    this.maxRecordBytes = this.#maxManifestBase64 + MAX_SIGNATURE_BASE64 + RECORD_OVERHEAD_BYTES;
  }

  /** The path of a content entry: its {@link entryNameOf name} in {@link filesDir}. */
  pathOf(integrity: string): string {
    // The name is base64url: nothing in it for join() to normalise, which costs more than the read at a cold start.
    return `${this.filesDir}${sep}${entryNameOf(integrity)}`;
  }

  /**
   * The bytes stored under `integrity`, hashed again; undefined when absent, unreadable or corrupt (then deleted). Only
   * a regular file of at most `maxBytes` is read: anything else planted under the entry's name (a FIFO, a device, a
   * symlink, a file larger than what it stands for) is deleted and reported like a corrupt entry.
   */
  async read(integrity: string, maxBytes: number): Promise<Uint8Array | undefined> {
    return (await this.readEntry(integrity, maxBytes))?.bytes;
  }

  /**
   * {@link read}, with the file the bytes were read from: the flat entry, or (in a cache of before, when there is no
   * flat one) the legacy entry `files/<2 chars>/<name>`, which is then copied to the flat path.
   */
  async readEntry(integrity: string, maxBytes: number): Promise<CachedEntry | undefined> {
    if (!INTEGRITY.test(integrity)) return undefined;
    const path = this.pathOf(integrity);
    const bytes = await this.#readChecked(path, integrity, maxBytes);
    if (bytes !== 'absent') return bytes && { bytes, path };
    // Only a cache of before has legacy folders; for one without, this costs no syscall (after one listing).
    const name = entryNameOf(integrity);
    if (!(await this.#legacyShardNames()).has(name.slice(0, 2))) return undefined;
    const legacy = legacyPathOf(this.filesDir, integrity);
    const legacyBytes = await this.#readChecked(legacy, integrity, maxBytes);
    if (legacyBytes === 'absent' || legacyBytes === undefined) return undefined;
    // Flat from now on. A failed copy (a read-only folder) costs only this lookup again at the next start.
    await this.write(integrity, legacyBytes).catch(() => {});
    return { bytes: legacyBytes, path: legacy };
  }

  /**
   * The bytes of the entry at `path` when they hash to `integrity`; 'absent' when there is no file; undefined when it
   * cannot be read or is corrupt or planted (then deleted and reported).
   */
  async #readChecked(path: string, integrity: string, maxBytes: number): Promise<Buffer | 'absent' | undefined> {
    let bytes: Buffer;
    try {
      bytes = await readRegularFile(path, maxBytes);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return 'absent';
      const planted = error instanceof NotARegularFile || code === 'ELOOP';
      if (planted) await this.#discard(path, integrity, `is not a regular file of at most ${maxBytes} bytes`);
      return undefined;
    }
    if (integrityOf(bytes) === integrity) return bytes;
    await this.#discard(path, integrity, 'no longer matches its hash');
    return undefined;
  }

  /** The names of the legacy folders in `files/` (listed once per process); none when it cannot be listed. */
  #legacyShardNames(): Promise<ReadonlySet<string>> {
    this.#legacyShards ??= readdir(this.filesDir, { withFileTypes: true }).then(
      (entries) =>
        new Set(entries.filter((entry) => entry.isDirectory() && isLegacyShardName(entry.name)).map((e) => e.name)),
      () => new Set<string>(),
    );
    return this.#legacyShards;
  }

  async #discard(path: string, integrity: string, why: string): Promise<void> {
    await rm(path, { force: true }).catch(() => {});
    this.#warn(
      'FERRY_CACHE_ENTRY_CORRUPT',
      `The cached file ${path} ${why} ${integrity}; it was deleted and not used (the file is fetched from the ` +
        "remote instead). If nobody changed it, check the disk and who else can write the host's cache folder.",
    );
  }

  /**
   * Stores verified bytes under their integrity (atomically; an existing entry is replaced by identical bytes).
   * `started` is called once the bytes' write is queued (atomic-write.ts).
   */
  async write(integrity: string, bytes: Uint8Array, started?: () => void): Promise<void> {
    if (!INTEGRITY.test(integrity)) return;
    // Rewritten even when present: the fresh mtime tells pruning that a host is using the entry right now.
    await this.#atomicWrite(this.pathOf(integrity), bytes, started);
  }

  /**
   * Marks the entry under `integrity` as in use (a fresh mtime, which is what rewriting it would give pruning) when
   * `bytes` were just read from it and found intact; writes them when the entry is gone (or cannot be touched). The
   * flat entry is the one touched: bytes read from a legacy entry were copied there by the read (or are written now).
   */
  async touch(integrity: string, bytes: Uint8Array): Promise<void> {
    if (!INTEGRITY.test(integrity)) return;
    const now = new Date();
    try {
      // One metadata call on the host's own folder: cheaper made at once than through the thread pool.
      utimesSync(this.pathOf(integrity), now, now);
    } catch {
      await this.write(integrity, bytes);
    }
  }

  /**
   * The record for a remote (keyed by its name and manifest URL), or undefined when there is none or it cannot be
   * used. A record of format 2 whose manifest or signature no longer matches its integrity is reported (the host
   * fetches the manifest again, and writes the record again once it is accepted).
   */
  async readRecord(remoteName: string, url: string): Promise<ManifestRecord | undefined> {
    const path = this.#recordPath(remoteName, url);
    let value: unknown;
    let mtimeMs: number;
    try {
      const { bytes, stat } = await readRegularFileAndStat(path, this.maxRecordBytes);
      value = JSON.parse(bytes.toString('utf8'));
      mtimeMs = stat.mtimeMs;
    } catch {
      return undefined;
    }
    const record = this.#fromDisk(value, url, path);
    if (!record) return undefined;
    // A 304 that confirmed the manifest set the file's time instead of writing it again (confirmRecord).
    record.fetchedAt = Math.max(record.fetchedAt, Math.floor(mtimeMs));
    return record;
  }

  /** A record as read from its file, in either format; undefined when it is not one for `url`. */
  #fromDisk(value: unknown, url: string, path: string): ManifestRecord | undefined {
    const disk = value as {
      formatVersion?: unknown;
      url?: unknown;
      manifest?: unknown;
      signature?: unknown;
      etag?: unknown;
      fetchedAt?: unknown;
      previous?: unknown;
    } | null;
    if (typeof disk !== 'object' || disk === null || disk.url !== url || typeof disk.fetchedAt !== 'number') {
      return undefined;
    }
    // A malformed history costs only the protection of older versions, never the current one.
    const previous = Array.isArray(disk.previous) && disk.previous.every(isVersion) ? { previous: disk.previous } : {};
    const rest = {
      url,
      ...(typeof disk.etag === 'string' ? { etag: disk.etag } : {}),
      fetchedAt: disk.fetchedAt,
      ...previous,
    };
    if (disk.formatVersion === 1) {
      if (!isCacheKey(disk.manifest) || (disk.signature !== undefined && !isCacheKey(disk.signature))) return undefined;
      return {
        formatVersion: 1,
        manifest: disk.manifest,
        ...(disk.signature === undefined ? {} : { signature: disk.signature }),
        ...rest,
      };
    }
    if (
      disk.formatVersion !== 2 ||
      !isStoredBytes(disk.manifest, this.#maxManifestBase64) ||
      (disk.signature !== undefined && !isStoredBytes(disk.signature, MAX_SIGNATURE_BASE64))
    ) {
      return undefined;
    }
    const manifestBytes = heldBytes(disk.manifest);
    const signatureBytes = disk.signature === undefined ? undefined : heldBytes(disk.signature);
    if (!manifestBytes || (disk.signature !== undefined && !signatureBytes)) {
      this.#warn(
        'FERRY_CACHE_ENTRY_CORRUPT',
        `The cached record ${path} holds a manifest or signature that no longer matches its hash; it was not used ` +
          "(the manifest is fetched from the remote instead). If nobody changed it, check the disk and who else can write the host's cache folder.",
      );
      return undefined;
    }
    return {
      formatVersion: 2,
      manifest: disk.manifest.integrity,
      manifestBytes,
      ...(signatureBytes && disk.signature ? { signature: disk.signature.integrity, signatureBytes } : {}),
      ...rest,
    };
  }

  /**
   * Marks the record of a remote as confirmed now: the remote answered 304 for the manifest it names, with the same
   * ETag, so only `fetchedAt` would change. The file's time is set (one metadata call) instead of the file being
   * written again (a read, a temporary file, a rename), and {@link readRecord} takes the later of the two times.
   * Writes `record` instead while a write of it is under way, or when the file cannot be touched (gone).
   */
  async confirmRecord(remoteName: string, record: ManifestRecord): Promise<void> {
    const path = this.#recordPath(remoteName, record.url);
    if (!this.#recordWrites.has(path)) {
      const now = new Date();
      try {
        utimesSync(path, now, now);
        return;
      } catch {
        // Gone (someone emptied the cache folder): written again below.
      }
    }
    await this.writeRecord(remoteName, record);
  }

  /**
   * Replaces the record for a remote with `record` as its current manifest. When the manifest changed, the one it
   * replaces joins the history (`previous`, newest first, trimmed to the remote's `cache.versions`) and
   * `onNewManifest` is called; an unchanged manifest (a 304) keeps the history as it is.
   */
  async writeRecord(remoteName: string, record: ManifestRecord): Promise<void> {
    const path = this.#recordPath(remoteName, record.url);
    const before = this.#recordWrites.get(path) ?? Promise.resolve();
    const write = before.catch(() => {}).then(() => this.#writeRecord(remoteName, record, path));
    this.#recordWrites.set(path, write);
    try {
      await write;
    } finally {
      if (this.#recordWrites.get(path) === write) this.#recordWrites.delete(path);
    }
  }

  async #writeRecord(remoteName: string, record: ManifestRecord, path: string): Promise<void> {
    const old = await this.readRecord(remoteName, record.url);
    const changed = old?.manifest !== record.manifest;
    const earlier: ManifestVersion[] =
      old === undefined ? [] : changed ? [versionOf(old), ...(old.previous ?? [])] : (old.previous ?? []);
    const keep = Math.max(1, this.#options.versionsOf?.(remoteName, record.url) ?? 3);
    const previous = earlier.filter((version) => version.manifest !== record.manifest).slice(0, keep - 1);
    await this.#atomicWrite(path, `${JSON.stringify(toDisk(record, previous), null, 2)}\n`);
    if (changed) this.#options.onNewManifest?.(remoteName, record.url);
  }

  #recordPath(remoteName: string, url: string): string {
    // Asked for several times per remote as a host starts (read, confirm or write): worked out once per remote and URL.
    const id = `${remoteName}\n${url}`;
    let path = this.#recordPaths.get(id);
    if (path === undefined) {
      path = join(this.recordsDir, `${remoteName}-${hash('sha256', id).slice(0, 32)}.json`);
      this.#recordPaths.set(id, path);
    }
    return path;
  }

  async #atomicWrite(path: string, data: Uint8Array | string, started?: () => void): Promise<void> {
    // Private to the host's user; no fsync: every entry is hashed again when read, and a lost record only costs a
    // fetch.
    // The folder is made once per process before the first write into it (a cold start's writes all start at once);
    // one that went away since (someone emptied the cache folder) is made again by the write that finds it missing.
    await this.#folder(dirname(path));
    await writeFileAtomic(path, data, {
      mode: 0o600,
      createParent: true,
      parentMode: 0o700,
      ...(started ? { started } : {}),
    });
  }

  /** Creates `dir` (and its parents) once; concurrent writes into one folder share the creation. */
  #folder(dir: string): Promise<void> {
    let made = this.#folders.get(dir);
    if (!made) {
      // node:fs, as common/atomic-write.ts: the first write of a start loads no module.
      made = new Promise((resolve, reject) =>
        mkdir(dir, { recursive: true, mode: 0o700 }, (error) => (error ? reject(error) : resolve())),
      );
      this.#folders.set(dir, made);
      made.catch(() => {
        if (this.#folders.get(dir) === made) this.#folders.delete(dir);
      });
    }
    return made;
  }
}

/** The history entry of a record's current manifest, once a newer one replaces it. */
function versionOf(record: ManifestRecord): ManifestVersion {
  if (record.manifestBytes) {
    return { manifest: record.manifest, files: filesListedIn(record.manifestBytes), fetchedAt: record.fetchedAt };
  }
  // Format 1: its manifest and signature stay in the content store, where pruning reads what they protect.
  return {
    manifest: record.manifest,
    ...(record.signature === undefined ? {} : { signature: record.signature }),
    fetchedAt: record.fetchedAt,
  };
}

/** A record as its file holds it: format 2 with the manifest's (and signature's) bytes, format 1 without. */
function toDisk(record: ManifestRecord, previous: ManifestVersion[]): object {
  const { url, etag, fetchedAt, manifestBytes, signatureBytes } = record;
  const rest = { ...(etag === undefined ? {} : { etag }), fetchedAt, ...(previous.length > 0 ? { previous } : {}) };
  if (!manifestBytes) {
    const signature = record.signature === undefined ? {} : { signature: record.signature };
    return { formatVersion: 1, url, manifest: record.manifest, ...signature, ...rest };
  }
  const signature =
    record.signature !== undefined && signatureBytes ? { signature: toStored(record.signature, signatureBytes) } : {};
  return { formatVersion: 2, url, manifest: toStored(record.manifest, manifestBytes), ...signature, ...rest };
}
