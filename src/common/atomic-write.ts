/**
 * Atomic file writes: the bytes go to a temporary file in the target's own folder (same file system, so the rename
 * is atomic), which is then renamed over the target. A reader sees the old file or the new one, never half of one;
 * concurrent writers of one path each rename a complete file, and the last rename wins. On failure the temporary
 * file is removed and the target is left as it was.
 *
 * The temporary name is hidden (leading dot) and random, so a static server or a folder listing never picks it up
 * and two writers (threads, processes, hosts sharing a folder) never write the same temporary file.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** What may be written: bytes, text, or an (async) iterable of them such as a readable stream. */
export type AtomicWriteData = Parameters<typeof writeFile>[1];

export interface AtomicWriteOptions {
  /** Mode of the new file (default `0o666` less the umask, as `fs.writeFile`). */
  mode?: number;
  /**
   * Create the parent folder (recursively) when it is missing (default false: a missing folder is an error). It is
   * made when the write finds it missing, then the write is made again, rather than probed before every write (for
   * bytes and text; a stream, which cannot be written twice, gets its folder first).
   */
  createParent?: boolean;
  /** Mode of folders created by `createParent` (default `0o777` less the umask). */
  parentMode?: number;
  /**
   * fsync the temporary file before the rename (default false), so a crash right after the write cannot leave an
   * empty or partial file under the target's name on file systems that reorder data and metadata writes.
   */
  flush?: boolean;
}

/** Matches the temporary names {@link writeFileAtomic} uses: `.<name>.<pid>.<12 hex>.tmp`. */
const TEMPORARY = /^\..+\.\d+\.[0-9a-f]{12}\.tmp$/;

/**
 * Whether `name` (a file name, not a path) is a temporary file of {@link writeFileAtomic}: one that a crashed writer
 * may have left behind, safe to remove once it is older than any write could take.
 *
 * @example
 * ```ts
 * isAtomicTemporary('.releases.json.4242.0a1b2c3d4e5f.tmp'); // true
 * ```
 */
export function isAtomicTemporary(name: string): boolean {
  return TEMPORARY.test(name);
}

/**
 * Writes `data` to `path` atomically (temporary file in the same folder, then rename); on failure the temporary file
 * is removed, the target is unchanged and the original error is thrown.
 *
 * @example
 * ```ts
 * await writeFileAtomic('/var/cache/ferry/releases.json', text, { mode: 0o600, createParent: true, flush: true });
 * ```
 */
export async function writeFileAtomic(
  path: string,
  data: AtomicWriteData,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const makeParent = () =>
    mkdir(dirname(path), {
      recursive: true,
      ...(options.parentMode === undefined ? {} : { mode: options.parentMode }),
    });
  const again = typeof data === 'string' || ArrayBuffer.isView(data);
  if (options.createParent && !again) await makeParent();
  try {
    await writeThroughTemporary(path, data, options);
  } catch (error) {
    if (!options.createParent || !again || (error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    await makeParent();
    await writeThroughTemporary(path, data, options);
  }
}

/** The write itself: a temporary file beside `path`, renamed over it; on failure the temporary file is removed. */
async function writeThroughTemporary(path: string, data: AtomicWriteData, options: AtomicWriteOptions): Promise<void> {
  // 48 random bits from randomUUID(), which draws on a buffer of entropy it refills in batches: randomBytes(6) per
  // write cost a call into OpenSSL each (~15 µs a write under load, bench/README.md sixth round).
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.${randomUUID().slice(-12)}.tmp`);
  try {
    // 'wx': created here or not at all, so a symlink planted under the temporary name is never written through.
    await writeFile(temporary, data, {
      flag: 'wx',
      ...(options.mode === undefined ? {} : { mode: options.mode }),
      ...(options.flush ? { flush: true } : {}),
    });
    await rename(temporary, path);
  } catch (error) {
    // Not ours to remove when it was there before (EEXIST). The cleanup's own failure must not hide why the write
    // failed.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') await rm(temporary, { force: true }).catch(() => {});
    throw error;
  }
}
