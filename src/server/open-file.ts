/**
 * Opens a file of the served folder for reading, refusing anything that is not a regular file inside the folder.
 *
 * The folder's real path is taken on every request, not once at start-up, so a deployment that switches a symlink
 * (`current -> releases/42`) is followed. The file's real path must lie inside it, and its name relative to it must
 * itself be a safe name: a symlink pointing out of the folder, or at a hidden file in it, is treated as missing.
 * The final open uses O_NOFOLLOW so a symlink swapped in after the realpath check is not followed either.
 *
 * These calls are synchronous, as Node's module loader makes its own on the files it loads, and as a host reads its
 * cache (src/runtime/cache/regular-file.ts): each is a few microseconds on a local folder, where a round trip through
 * libuv's thread pool costs several times that in CPU (two `realpath`, `open` and `fstat`: ~15 µs synchronously,
 * ~60 µs through the pool on the bench machine), which a server answering a fleet's cold starts paid per request
 * (bench/ROUNDS.md, tenth round). The bytes of a large file are still read asynchronously (src/server/handler.ts).
 */
import { type BigIntStats, closeSync, constants, fstatSync, openSync, realpathSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { isSafeFileName } from '../manifest/index.ts';

/** An open regular file of the served folder; the caller closes `fd` (or hands it to a stream that does). */
export interface OpenedFile {
  fd: number;
  stat: BigIntStats;
  /** The real path, used as a cache key; never sent to clients. */
  realPath: string;
}

// Errors that mean "there is no such file here" rather than "something is broken".
const MISSING = new Set(['ENOENT', 'ENOTDIR', 'ELOOP', 'ENAMETOOLONG', 'EISDIR']);

/** True for a file-system error that means the file does not exist (as opposed to a failure worth a 500). */
export function isMissingFileError(error: unknown): boolean {
  return MISSING.has((error as NodeJS.ErrnoException | undefined)?.code ?? '');
}

/**
 * Opens `name` (already checked with isSafeFileName) inside `dir`, or returns `undefined` when there is no regular
 * file of that name inside the folder. Other file-system errors are thrown.
 *
 * @example
 * ```ts
 * const file = openInside('dist/federation', 'mf-manifest.json');
 * if (file) try { readFileSync(file.fd); } finally { closeSync(file.fd); }
 * ```
 */
export function openInside(dir: string, name: string): OpenedFile | undefined {
  try {
    // The file's real path resolves the folder's symlinks too, so it does not need the folder's first.
    const root = realpathSync.native(dir);
    const realPath = realpathSync.native(join(dir, name));
    const inside = relative(root, realPath).split(sep).join('/');
    if (!isSafeFileName(inside)) return undefined;
    // O_NONBLOCK: opening a FIFO someone left in the folder must not hang the request (it is then not a file).
    const fd = openSync(realPath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const stat = fstatSync(fd, { bigint: true });
      if (stat.isFile()) return { fd, stat, realPath };
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    closeSync(fd);
    return undefined;
  } catch (error) {
    if (isMissingFileError(error)) return undefined;
    throw error;
  }
}

/** A key that changes whenever the file is replaced (new inode) or rewritten in place (size, mtime, ctime). */
export function versionKey(file: OpenedFile): string {
  return `${file.realPath}\0${fileIdentity(file.stat)}`;
}

/** Which file this is, and which version of it: device, inode, size and timestamps. */
export function fileIdentity({ dev, ino, size, mtimeNs, ctimeNs }: BigIntStats): string {
  return `${dev}:${ino}:${size}:${mtimeNs}:${ctimeNs}`;
}
