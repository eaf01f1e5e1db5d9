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
import { close, fsync, mkdir, open, rename, rm, write } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';

// Through `node:fs`, which Node loads at its own start-up, rather than `node:fs/promises`, which a host would load
// (~1.3 ms) for its first cache write (the build takes that module lazily: scripts/build.ts); a write is the same
// system calls in the thread pool either way.
const openAsync = promisify(open);
const writeAsync = promisify(write);
const fsyncAsync = promisify(fsync);
const closeAsync = promisify(close);
const renameAsync = promisify(rename);
const rmAsync = promisify(rm);
const mkdirAsync = promisify(mkdir);

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
  /**
   * Called once the data is on its way: for bytes and text, when their one write is queued in the thread pool, so a
   * caller about to keep the main thread busy (compiling) lets the write run meanwhile; what is left (close, rename)
   * needs the main thread only briefly. For a stream, as its write begins. Not called when the write fails before
   * that (the temporary file could not be created).
   */
  started?: () => void;
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
  given: AtomicWriteOptions = {},
): Promise<void> {
  // Once, though a write made again (its folder was missing) starts twice.
  const options = given.started ? { ...given, started: once(given.started) } : given;
  const makeParent = () =>
    mkdirAsync(dirname(path), {
      recursive: true,
      ...(options.parentMode === undefined ? {} : { mode: options.parentMode }),
    });
  const again = isWhole(data);
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
  // write cost a call into OpenSSL each (~15 µs a write under load, bench/ROUNDS.md sixth round).
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.${randomUUID().slice(-12)}.tmp`);
  try {
    // 'wx': created here or not at all, so a symlink planted under the temporary name is never written through.
    if (isWhole(data)) await writeWhole(temporary, data, options);
    else {
      options.started?.();
      await writeFile(temporary, data, {
        flag: 'wx',
        ...(options.mode === undefined ? {} : { mode: options.mode }),
        ...(options.flush ? { flush: true } : {}),
      });
    }
    await renameAsync(temporary, path);
  } catch (error) {
    // Not ours to remove when it was there before (EEXIST). The cleanup's own failure must not hide why the write
    // failed.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') await rmAsync(temporary, { force: true }).catch(() => {});
    throw error;
  }
}

/** Bytes or text, which are written in one request (and can be written again); not a stream. */
function isWhole(data: AtomicWriteData): data is string | NodeJS.ArrayBufferView {
  return typeof data === 'string' || ArrayBuffer.isView(data);
}

/**
 * Bytes or text written with one write request (more only if the system writes part of them), not `writeFile`'s
 * 512 KiB pieces, each of which waits for a turn of the main thread: a large file's write then runs in the thread
 * pool while the main thread does something else (`started`).
 */
async function writeWhole(
  temporary: string,
  data: string | NodeJS.ArrayBufferView,
  options: AtomicWriteOptions,
): Promise<void> {
  const bytes =
    typeof data === 'string' ? Buffer.from(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const fd = await openAsync(temporary, 'wx', options.mode);
  try {
    const writing = writeAll(fd, bytes);
    options.started?.();
    await writing;
    if (options.flush) await fsyncAsync(fd);
  } catch (error) {
    // The write's error is the one to report, not the close's.
    await closeAsync(fd).catch(() => {});
    throw error;
  }
  await closeAsync(fd);
}

function once(callback: () => void): () => void {
  let called = false;
  return () => {
    if (called) return;
    called = true;
    callback();
  };
}

async function writeAll(fd: number, bytes: Uint8Array): Promise<void> {
  for (let offset = 0; offset < bytes.byteLength; ) {
    const { bytesWritten } = await writeAsync(fd, bytes, offset, bytes.byteLength - offset);
    if (bytesWritten === 0) throw new Error(`no bytes written to ${fd} at offset ${offset}`);
    offset += bytesWritten;
  }
}
