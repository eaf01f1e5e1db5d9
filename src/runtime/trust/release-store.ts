/**
 * Rollback protection: the highest `ferry.release` the host accepted, per remote name and manifest origin, kept in
 * `<cache.dir>/releases.json` so it survives restarts. A manifest is accepted only when it is newer than the record,
 * or is the very manifest recorded (same release, same bytes): a lower release is a rollback, and an equal release
 * with other bytes is a second build under a number that was already used, which would let an older build be swapped
 * back in under the same release (mix-and-match / replay).
 *
 * The file is read once, when the host is created; a missing file is an empty record and an unreadable or corrupt
 * one is a warning, never a crash. Every write replaces the file atomically (temporary file + rename), after merging
 * what is on disk at that moment, so two hosts sharing a cache folder do not lower each other's records.
 *
 * Only releases proven by a pinned key's signature are written to disk: an unsigned manifest's release number can be
 * set by anyone on the network path, and persisting it would let them lock the host out of every genuine release. An
 * unsigned release is remembered for the host's lifetime only.
 */

import { join } from 'node:path';
import { writeFileAtomic } from '../../common/atomic-write.ts';
import { RollbackError } from '../../common/errors.ts';
import type { WarningCode } from '../../common/warnings.ts';
import { hasSignedRecords } from '../cache/cache-folder.ts';
import { readRegularFile, readRegularFileSync } from '../cache/regular-file.ts';

/** Far more than any host's records: a file larger than this is not one ferry wrote. */
const MAX_RELEASES_BYTES = 16 << 20;

/** The file name inside the cache folder. */
export const RELEASES_FILE = 'releases.json';

/** One remote's record: the highest accepted release and the integrity of that manifest's exact bytes. */
export interface ReleaseRecord {
  release: number;
  manifest: string;
  acceptedAt: string;
}

interface ReleasesDocument {
  formatVersion: 1;
  /** Keyed by `<remote name>@<manifest origin>`, e.g. `authService@https://auth.example.com`. */
  remotes: Record<string, ReleaseRecord>;
}

/** The record key of a remote: its name in the manifest and the origin its manifest is fetched from. */
export function releaseKey(remoteName: string, manifestUrl: string): string {
  return `${remoteName}@${new URL(manifestUrl).origin}`;
}

function isRecord(value: unknown): value is ReleaseRecord {
  const record = value as Partial<ReleaseRecord> | null;
  return (
    typeof record === 'object' &&
    record !== null &&
    Number.isSafeInteger(record.release) &&
    (record.release as number) >= 0 &&
    typeof record.manifest === 'string' &&
    typeof record.acceptedAt === 'string'
  );
}

/** Parses the document; throws a plain Error saying what is wrong (the caller turns it into a warning). */
function parseDocument(text: string): Map<string, ReleaseRecord> {
  const doc = JSON.parse(text) as Partial<ReleasesDocument> | null;
  if (typeof doc !== 'object' || doc === null || doc.formatVersion !== 1) throw new Error('formatVersion is not 1');
  if (typeof doc.remotes !== 'object' || doc.remotes === null) throw new Error('"remotes" is not an object');
  const records = new Map<string, ReleaseRecord>();
  for (const [key, record] of Object.entries(doc.remotes)) {
    if (!isRecord(record)) throw new Error(`the record for ${JSON.stringify(key)} is malformed`);
    records.set(key, { release: record.release, manifest: record.manifest, acceptedAt: record.acceptedAt });
  }
  return records;
}

/** The higher of two records (the first on a tie: what is already on disk stays). */
function higher(a: ReleaseRecord | undefined, b: ReleaseRecord): ReleaseRecord {
  return a !== undefined && a.release >= b.release ? a : b;
}

export class ReleaseStore {
  /** Absolute path of the releases file. */
  readonly file: string;
  readonly #warn: (code: WarningCode, message: string) => void;
  /** What the host knows: the file as read at start, plus everything accepted since (signed or not). */
  readonly #known: Map<string, ReleaseRecord>;
  /** Keys whose known record was accepted unsigned and is therefore not on disk. */
  readonly #unsaved = new Set<string>();
  /** What the host has to write: signed acceptances since start. */
  readonly #persisted = new Map<string, ReleaseRecord>();
  /** The write in progress (settled: never rejects), after which the next one may start. */
  #writing: Promise<void> = Promise.resolve();
  /** The write that starts when the one in progress ends, shared by every acceptance made meanwhile. */
  #next: Promise<void> | undefined;
  #closed = false;

  /**
   * Reads `<cache.dir>/releases.json` once. Never throws: a corrupt or unreadable file is reported through `warn`
   * and treated as empty (it is replaced by the next write).
   */
  static open(
    cacheDir: string,
    warn: (code: WarningCode, message: string) => void,
    name: string = RELEASES_FILE,
  ): ReleaseStore {
    const file = join(cacheDir, name);
    let records = new Map<string, ReleaseRecord>();
    try {
      records = parseDocument(readRegularFileSync(file, MAX_RELEASES_BYTES).toString('utf8'));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && name === RELEASES_FILE && hasSignedRecords(cacheDir)) {
        warn(
          'FERRY_RELEASES_MISSING',
          `The host's release record ${file} is missing, but its cache folder holds manifests of signed remotes, ` +
            'which are only kept beside it: the record was deleted (or the folder restored without it), so rollback ' +
            'protection starts over from the next accepted release. If nobody removed it on purpose, check who can ' +
            "write the host's cache folder.",
        );
      } else if (code !== 'ENOENT') {
        warn(
          code === undefined ? 'FERRY_CACHE_CORRUPT' : 'FERRY_CACHE_UNREADABLE',
          `The host's release record ${file} could not be read (${(error as Error).message}); it is treated as empty ` +
            'and will be rewritten, so rollback protection starts over from the next accepted release. If it was ' +
            "not changed by hand, check who else can write the host's cache folder.",
        );
      }
    }
    // `this`, not the class's name: a class that names itself inside its body is renamed when bundled
    // (scripts/build.ts).
    return new this(file, records, warn);
  }

  private constructor(
    file: string,
    records: Map<string, ReleaseRecord>,
    warn: (code: WarningCode, message: string) => void,
  ) {
    this.file = file;
    this.#known = records;
    this.#warn = warn;
  }

  /** The record for a key, if any. */
  get(key: string): ReleaseRecord | undefined {
    return this.#known.get(key);
  }

  /** Whether `release` (with these bytes) may be accepted for `key`: newer than the record, or the very one recorded. */
  allows(key: string, release: number, integrity: string): boolean {
    const known = this.#known.get(key);
    return (
      known === undefined || release > known.release || (release === known.release && integrity === known.manifest)
    );
  }

  /**
   * Throws {@link RollbackError} unless a manifest with this release and integrity may be accepted for `key`.
   */
  check(key: string, release: number, integrity: string, details: { remote: string; url: string }): void {
    if (this.allows(key, release, integrity)) return;
    const known = this.#known.get(key)!;
    const same = release === known.release;
    const why = same
      ? `has release ${release}, the same release as the manifest this host accepted on ${known.acceptedAt}, but ` +
        `different bytes (${integrity} instead of ${known.manifest}); two builds must never share a release, or an ` +
        'older one could be swapped back in under it'
      : `has release ${release}, lower than release ${known.release} that this host accepted on ${known.acceptedAt}; ` +
        'an older build is refused so it cannot be served again (rollback)';
    throw new RollbackError(
      `The manifest of remote "${details.remote}" at ${details.url} ${why}. Rebuild the remote with a release higher ` +
        `than ${known.release} (\`ferry build\` uses the build time unless \`release\` is configured) and deploy that; ` +
        `to roll back on purpose, rebuild the old code — the record is kept in ${this.file}.`,
      { ...details, file: this.file, release, acceptedRelease: known.release },
    );
  }

  /**
   * Records an accepted manifest. With `persist` (its signature was verified) the record is written to disk before
   * this resolves; a failed write is a warning (the host keeps working, protected for its own lifetime).
   */
  async accept(key: string, release: number, integrity: string, persist: boolean): Promise<void> {
    const known = this.#known.get(key);
    const same = known !== undefined && known.release === release && known.manifest === integrity;
    // The record is already where it belongs: on disk (read at start or written since), or in memory for unsigned.
    if (same && (!persist || !this.#unsaved.has(key))) return;
    const record = same ? known : { release, manifest: integrity, acceptedAt: new Date().toISOString() };
    // higher(): two aliases of one remote may race; the record never goes down.
    this.#known.set(key, higher(known, record));
    if (!persist) {
      this.#unsaved.add(key);
      return;
    }
    this.#unsaved.delete(key);
    this.#persisted.set(key, higher(this.#persisted.get(key), record));
    if (this.#closed) return;
    await this.#scheduleWrite().catch((error: unknown) => {
      this.#warn(
        'FERRY_CACHE_WRITE',
        `The host could not record release ${release} of ${key} in ${this.file} (${(error as Error).message}); ` +
          'rollback protection for it lasts until the host stops. Make `cache.dir` a folder the host can write.',
      );
    });
  }

  /** Waits for the write in progress; nothing is written after (the host closed). */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#writing;
  }

  /**
   * A write that includes every record persisted so far. Writes are chained, so the file is only ever replaced by one
   * writer of this host at a time, and acceptances made while one is running share the next one: a host accepting 50
   * remotes at start writes (and flushes) the file a few times, not 50 times in a row. The next write takes what is
   * to be persisted when it starts, so every acceptance that joined it is in it.
   */
  #scheduleWrite(): Promise<void> {
    if (this.#next) return this.#next;
    const next = this.#writing.then(() => {
      this.#next = undefined;
      return this.#write();
    });
    this.#next = next;
    this.#writing = next.catch(() => {});
    return next;
  }

  async #write(): Promise<void> {
    let onDisk = new Map<string, ReleaseRecord>();
    try {
      onDisk = parseDocument((await readRegularFile(this.file, MAX_RELEASES_BYTES)).toString('utf8'));
    } catch {
      // Missing or corrupt: it was reported at start (or is new); the merged document replaces it.
    }
    for (const [key, record] of this.#persisted) onDisk.set(key, higher(onDisk.get(key), record));
    const doc: ReleasesDocument = { formatVersion: 1, remotes: Object.fromEntries(onDisk) };
    // Flushed: after a crash the record must still be there, or a rollback would pass after the restart.
    // The folder is made at the first write (or again, when it went away), not probed at every write (createParent).
    await writeFileAtomic(this.file, `${JSON.stringify(doc, null, 2)}\n`, {
      mode: 0o600,
      createParent: true,
      parentMode: 0o700,
      flush: true,
    });
  }
}
