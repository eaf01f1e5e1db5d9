/**
 * Pruning the host's disk cache, so a host that follows hundreds of updates does not keep hundreds of versions'
 * files in `<cache.dir>/files/`. Several host processes may share one cache folder, each with its own remotes, so what
 * is kept is decided from the folder, never from what this host knows:
 *
 * - every file a record in `<cache.dir>/remotes/` references is kept — every file its current manifest (held in the
 *   record) lists, and those its history lists (`previous`, up to the remote's `cache.versions`) — whichever host
 *   wrote the record; a record of format 1 (file-cache.ts) names its manifests and signatures in the content store,
 *   and those are kept with every file they list;
 * - an unreferenced file is removed only when it is older than {@link PRUNE_GRACE_MS} (by mtime), so a host that has
 *   just stored a file but not yet its record is not hurt (entries are rewritten when stored, which refreshes it);
 * - when anything that could protect a file cannot be read (a record that is unreadable, not JSON, or in a shape
 *   this ferry does not know), nothing is removed and the run fails: deleting on a guess could cost a restart its
 *   cached copy.
 *
 * Pruned are `<cache.dir>/files/`, only names ferry writes there (content entries and the temporary files of
 * interrupted writes; the same in the `<2 chars>/` folders of the layout before flat `files/`, and such a folder once
 * it is left empty), and `<cache.dir>/versions/`, the folders where versions' assets are laid out
 * (version/version-folder.ts): a folder whose manifest no record references any more, last changed before the grace
 * period, is removed whole. Records, `releases.json` and other folders (such as `v8/`) are left alone. A run is requested
 * after a new manifest is recorded, runs in the background a few seconds later (when the new version has loaded) and
 * at most once per `cache.pruneInterval` (across processes: the last run is kept in `<cache.dir>/prune.json`), and
 * reports failures as warnings, never to an import.
 */

import { createHash } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { lstat, readdir, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isAtomicTemporary, writeFileAtomic } from '../../common/atomic-write.ts';
import type { WarningCode } from '../../common/warnings.ts';
import { inBackground } from '../background.ts';
import {
  entryNameOf,
  type FileCache,
  filesListedIn,
  heldBytes,
  isCacheKey,
  isLegacyShardName,
  legacyPathOf,
  type StoredBytes,
} from './file-cache.ts';
import { readRegularFile } from './regular-file.ts';

/** Records and the prune state are small JSON files; manifests are capped by the hosts that cached them. */
const MAX_JSON_BYTES = 16 << 20;

/** Unreferenced files younger than this are kept: a concurrent host may have stored them and not yet its record. */
export const PRUNE_GRACE_MS = 10 * 60_000;

/** How long after the request a run starts (or `cache.pruneInterval`, when shorter). */
export const PRUNE_DELAY_MS = 5_000;

/** Where the last run is recorded, in the cache folder. */
export const PRUNE_STATE_FILE = 'prune.json';

/** A content entry's name: its integrity's digest in base64url. */
const ENTRY_NAME = /^[A-Za-z0-9_-]{64}$/;
/** The temporary names of writes before common/atomic-write.ts (`<entry>.<pid>.<hex>.tmp`, in legacy folders). */
const OLD_TEMPORARY = /^[A-Za-z0-9_-]{64}\.\d+\.[0-9a-f]+\.tmp$/;

/** A version folder's name: `<remote>@<version>-<digest of its manifest's integrity>` ({@link versionFolderName}). */
const VERSION_FOLDER = /^[A-Za-z_$][\w$]*@[^/\\]+-([A-Za-z0-9_-]{16})$/;

/** The folder under `<cache.dir>/versions/` of a remote's version, from its manifest's name, version and integrity. */
export function versionFolderName(remote: string, version: string, manifestIntegrity: string): string {
  return `${remote}@${version}-${versionDigest(manifestIntegrity)}`;
}

function versionDigest(manifestIntegrity: string): string {
  return createHash('sha256').update(manifestIntegrity).digest('base64url').slice(0, 16);
}

/** What one run did. */
export interface PruneResult {
  /** Files removed, and their bytes. */
  removed: number;
  removedBytes: number;
  /** Version folders removed (their files are not counted above). */
  removedFolders: number;
  /** Files kept: referenced, or within the grace period. */
  kept: number;
}

export interface PruneOptions {
  /** Files younger than this (ms, by mtime) are kept even when unreferenced (default {@link PRUNE_GRACE_MS}). */
  graceMs?: number;
  /** The clock (default `Date.now`). */
  now?: () => number;
  /** Polled between files: true stops the run (the host closed). */
  stopped?: () => boolean;
}

function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

/** The entries of a folder, with their types; none when it does not exist (nothing cached yet, or removed). */
async function listWithTypes(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if (errno(error) === 'ENOENT') return [];
    throw error;
  }
}

/** The names of {@link listWithTypes}. */
async function list(dir: string): Promise<string[]> {
  return (await listWithTypes(dir)).map((entry) => entry.name);
}

/** What one record protects. */
interface Protected {
  /** Every manifest's integrity (their version folders are kept). */
  manifests: string[];
  /** Content entries kept as they are: the manifests and signatures a record of format 1 names there. */
  entries: string[];
  /** Files the manifests list, where the record says (format 2). */
  files: string[];
}

/** What one record protects: its current manifest's files and its history's, in either format (file-cache.ts). */
async function recordProtects(cache: FileCache, path: string): Promise<Protected> {
  let text: string;
  try {
    text = (await readRegularFile(path, cache.maxRecordBytes)).toString('utf8');
  } catch (error) {
    if (errno(error) === 'ENOENT') return { manifests: [], entries: [], files: [] }; // replaced or removed since
    throw new Error(
      `the manifest record ${path} could not be read (${(error as Error).message}). Give the host's user read ` +
        'access to every file in that folder, or remove the record (the host that owns it writes it again)',
    );
  }
  let record: { formatVersion?: unknown; manifest?: unknown; signature?: unknown; previous?: unknown } | null;
  try {
    record = JSON.parse(text);
  } catch {
    record = null;
  }
  const held = record?.manifest as { integrity?: unknown; base64?: unknown } | undefined;
  const known =
    typeof record === 'object' &&
    record !== null &&
    ((record.formatVersion !== 2 && typeof record.manifest === 'string') ||
      (record.formatVersion === 2 && typeof held?.integrity === 'string' && typeof held.base64 === 'string'));
  if (typeof record !== 'object' || record === null || !known) {
    throw new Error(
      `the manifest record ${path} is not a record this version of ferry can read, so the files it protects are ` +
        'unknown. If a newer ferry shares this cache folder, upgrade this host too; if the file is damaged, remove it ' +
        '(the host that owns it writes it again)',
    );
  }
  const result: Protected = { manifests: [], entries: [], files: [] };
  if (record.formatVersion === 2) {
    // Bytes that do not hash to their integrity are never run (file-cache.ts refuses the record): they protect nothing.
    const bytes = heldBytes(held as StoredBytes);
    if (bytes) {
      result.manifests.push(held!.integrity as string);
      result.files.push(...filesListedIn(bytes));
    }
  } else {
    result.entries.push(...[record.manifest, record.signature].filter(isCacheKey));
  }
  for (const version of Array.isArray(record.previous) ? record.previous : []) {
    const entry = version as { manifest?: unknown; signature?: unknown; files?: unknown } | null;
    if (Array.isArray(entry?.files)) {
      if (isCacheKey(entry.manifest)) result.manifests.push(entry.manifest);
      result.files.push(...entry.files.filter(isCacheKey));
    } else {
      result.entries.push(...[entry?.manifest, entry?.signature].filter(isCacheKey));
    }
  }
  return result;
}

/** The integrities of every file a cached manifest lists; none when it is absent or unusable (it cannot be run). */
async function manifestFiles(cache: FileCache, integrity: string): Promise<string[]> {
  let path = cache.pathOf(integrity);
  try {
    let bytes: Buffer;
    try {
      bytes = await readRegularFile(path, MAX_JSON_BYTES);
    } catch (error) {
      if (errno(error) !== 'ENOENT') throw error;
      // Not flat: a cache of before may still have it in its legacy folder, and a host starts from it there.
      path = legacyPathOf(cache.filesDir, integrity);
      bytes = await readRegularFile(path, MAX_JSON_BYTES);
    }
    return filesListedIn(bytes);
  } catch (error) {
    // Absent: a host can only start from a cached manifest that reads and hashes, so its files are not needed. Any
    // other failure (permissions, I/O) leaves what it protects unknown.
    if (errno(error) === 'ENOENT' || errno(error) === 'ENOTDIR') return [];
    throw new Error(`the cached manifest ${path} could not be read (${(error as Error).message})`);
  }
}

/**
 * Removes the files of `cache` that no record references and that are older than the grace period. Throws (a plain
 * Error whose message names the file and the fix) when what protects the files cannot be known; then nothing was
 * removed.
 */
export async function pruneCache(cache: FileCache, options: PruneOptions = {}): Promise<PruneResult> {
  const graceMs = options.graceMs ?? PRUNE_GRACE_MS;
  const now = options.now ?? Date.now;
  const stopped = options.stopped ?? (() => false);

  const manifests = new Set<string>();
  const keep = new Set<string>();
  const stored = new Set<string>();
  for (const name of await list(cache.recordsDir)) {
    if (!name.endsWith('.json') || name.startsWith('.')) continue;
    const protects = await recordProtects(cache, join(cache.recordsDir, name));
    for (const integrity of protects.manifests) manifests.add(integrity);
    for (const integrity of protects.files) keep.add(integrity);
    for (const integrity of protects.entries) stored.add(integrity);
  }
  for (const integrity of stored) {
    manifests.add(integrity);
    keep.add(integrity);
    for (const file of await manifestFiles(cache, integrity)) keep.add(file);
  }
  const keepNames = new Set([...keep].map(entryNameOf));

  const result: PruneResult = { removed: 0, removedBytes: 0, removedFolders: 0, kept: 0 };
  const cutoff = now() - graceMs;
  await pruneVersionFolders(join(cache.dir, 'versions'), new Set([...manifests].map(versionDigest)), cutoff, result);
  for (const entry of await listWithTypes(cache.filesDir)) {
    if (stopped()) return result;
    // A folder of the layout of before, not a link to one: pruning never follows a link out of the cache folder.
    if (entry.isDirectory() && isLegacyShardName(entry.name)) {
      await pruneLegacyFolder(join(cache.filesDir, entry.name), keepNames, cutoff, result, stopped);
    } else {
      await pruneEntry(cache.filesDir, entry.name, keepNames, cutoff, result);
    }
  }
  return result;
}

/**
 * Removes the file `name` in `dir` when it is one ferry writes (a content entry or the temporary file of an
 * interrupted write), no record references it and it is older than `cutoff`; anything else is not ours to remove.
 */
async function pruneEntry(
  dir: string,
  name: string,
  keepNames: ReadonlySet<string>,
  cutoff: number,
  result: PruneResult,
): Promise<void> {
  if (keepNames.has(name)) {
    result.kept++;
    return;
  }
  if (!ENTRY_NAME.test(name) && !isAtomicTemporary(name) && !OLD_TEMPORARY.test(name)) return;
  const path = join(dir, name);
  let stats: Awaited<ReturnType<typeof lstat>>;
  try {
    stats = await lstat(path);
  } catch (error) {
    if (errno(error) === 'ENOENT') return;
    throw error;
  }
  if (!stats.isFile()) return;
  if (stats.mtimeMs > cutoff) {
    result.kept++;
    return;
  }
  await rm(path, { force: true });
  result.removed++;
  result.removedBytes += stats.size;
}

/**
 * A folder of the layout before flat `files/` (`files/<2 chars>/`): its entries are pruned as flat ones are, and the
 * folder itself is removed once nothing is left in it (a host that writes there again makes it again).
 */
async function pruneLegacyFolder(
  dir: string,
  keepNames: ReadonlySet<string>,
  cutoff: number,
  result: PruneResult,
  stopped: () => boolean,
): Promise<void> {
  for (const name of await list(dir)) {
    if (stopped()) return;
    await pruneEntry(dir, name, keepNames, cutoff, result);
  }
  // Only when empty: rmdir refuses a folder that still holds anything (kept, foreign, or written meanwhile).
  await rmdir(dir).catch((error: unknown) => {
    if (!['ENOTEMPTY', 'EEXIST', 'ENOENT', 'ENOTDIR'].includes(errno(error) ?? '')) throw error;
  });
}

/**
 * Removes the version folders under `versionsDir` whose manifest is not in `keep` (by digest) and that nothing
 * changed since `cutoff`: a version a host laid out moments ago, before its record was written, stays.
 */
async function pruneVersionFolders(
  versionsDir: string,
  keep: ReadonlySet<string>,
  cutoff: number,
  result: PruneResult,
): Promise<void> {
  for (const name of await list(versionsDir)) {
    const digest = VERSION_FOLDER.exec(name)?.[1];
    if (digest === undefined || keep.has(digest)) continue;
    const path = join(versionsDir, name);
    let newest: number;
    try {
      const stats = await lstat(path);
      if (!stats.isDirectory()) continue;
      newest = stats.mtimeMs;
      // The newest change inside (a file laid out again replaces it): any recent one keeps the folder.
      for (const entry of await readdir(path, { recursive: true, withFileTypes: true })) {
        newest = Math.max(newest, (await lstat(join(entry.parentPath, entry.name))).mtimeMs);
      }
    } catch (error) {
      if (errno(error) === 'ENOENT') continue; // removed meanwhile
      throw error;
    }
    if (newest > cutoff) continue;
    // Files are read-only (0444) in folders of mode 0700: removing them needs write access to the folder only.
    await rm(path, { recursive: true, force: true });
    result.removedFolders++;
  }
}

interface PruneState {
  formatVersion: 1;
  /** When the last run finished, epoch ms. */
  prunedAt: number;
  /** The host that ran it, and what it did. */
  host: string;
  removed: number;
  removedBytes: number;
  /** Absent in states written before version folders were pruned. */
  removedFolders?: number;
  kept: number;
}

async function readState(file: string): Promise<PruneState | undefined> {
  try {
    const state = JSON.parse(
      (await readRegularFile(file, MAX_JSON_BYTES)).toString('utf8'),
    ) as Partial<PruneState> | null;
    return typeof state?.prunedAt === 'number' ? (state as PruneState) : undefined;
  } catch {
    return undefined; // never pruned, or a damaged file: it is due, and the run replaces the file
  }
}

export interface CachePrunerOptions {
  /** The host's name, kept in `prune.json`. */
  host: string;
  /** The least time between two runs in ms, or false (never); read when a run is requested. */
  interval: () => number | false;
  /** Reports a failed run. */
  warn: (code: WarningCode, message: string) => void;
  /** As in {@link PruneOptions}, for tests. */
  graceMs?: number;
}

/**
 * Runs {@link pruneCache} in the background when asked, at most once per interval (across the processes sharing the
 * cache folder), one run at a time; a failed run is a `FERRY_CACHE_PRUNE` warning.
 */
export class CachePruner {
  readonly #cache: FileCache;
  readonly #options: CachePrunerOptions;
  readonly #stateFile: string;
  #lastRun = Number.NEGATIVE_INFINITY;
  #running: Promise<void> | undefined;
  #again = false;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  /** Ends the wait before a run early (on close, where the run then does nothing). */
  #wake: (() => void) | undefined;

  constructor(cache: FileCache, options: CachePrunerOptions) {
    this.#cache = cache;
    this.#options = options;
    this.#stateFile = join(cache.dir, PRUNE_STATE_FILE);
  }

  /**
   * Asks for a run. When one is due it starts {@link PRUNE_DELAY_MS} later (or after the interval, when shorter),
   * in the background; this never throws.
   */
  request(): void {
    const interval = this.#options.interval();
    if (this.#closed || interval === false) return;
    if (this.#running) {
      // A manifest recorded during a run may have released files the run already looked at.
      this.#again = true;
      return;
    }
    if (Date.now() - this.#lastRun < interval) return;
    // A moment later, not at once: the update that recorded the manifest is still fetching and compiling. In the
    // host's background context (background.ts): the run, and a warning it gives, belong to no import or request.
    const run = inBackground(() => this.#scheduleRun(interval));
    this.#running = run;
  }

  #scheduleRun(interval: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#wake = resolve;
      this.#timer = setTimeout(resolve, Math.min(interval, PRUNE_DELAY_MS));
      this.#timer.unref();
    })
      .then(() => this.#run(interval))
      .catch((error: unknown) => {
        if (this.#closed) return;
        this.#options.warn(
          'FERRY_CACHE_PRUNE',
          `The host could not prune its cache ${this.#cache.dir}: ${(error as Error).message}. Imports are not ` +
            'affected and no file that may still be needed was removed; pruning is tried again after a later new ' +
            'manifest (at most once per `cache.pruneInterval`).',
        );
      })
      .finally(() => {
        this.#running = undefined;
        this.#wake = undefined;
        if (this.#again) {
          this.#again = false;
          this.request();
        }
      });
  }

  /** Stops: no new run starts, and one in progress stops at its next file. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#wake?.();
  }

  async #run(interval: number): Promise<void> {
    if (this.#closed) return;
    const last = await readState(this.#stateFile);
    if (last !== undefined && last.prunedAt <= Date.now() && Date.now() - last.prunedAt < interval) {
      // Another host on this folder pruned a moment ago.
      this.#lastRun = last.prunedAt;
      return;
    }
    this.#lastRun = Date.now();
    const result = await pruneCache(this.#cache, {
      ...(this.#options.graceMs === undefined ? {} : { graceMs: this.#options.graceMs }),
      stopped: () => this.#closed,
    });
    if (this.#closed) return;
    const state: PruneState = { formatVersion: 1, prunedAt: Date.now(), host: this.#options.host, ...result };
    await writeFileAtomic(this.#stateFile, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 }).catch(
      (error: unknown) => {
        // The folder went away (removed by hand or by a test's cleanup): there is nothing left to prune.
        if (errno(error) !== 'ENOENT') throw error;
      },
    );
  }
}
