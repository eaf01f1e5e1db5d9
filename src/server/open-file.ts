/**
 * Opens a file of the served folder for reading, refusing anything that is not a regular file inside the folder.
 *
 * The folder's real path is taken on every request, not once at start-up, so a deployment that switches a symlink
 * (`current -> releases/42`) is followed. The file's real path must lie inside it, and its name relative to it must
 * itself be a safe name: a symlink pointing out of the folder, or at a hidden file in it, is treated as missing.
 * The final open uses O_NOFOLLOW so a symlink swapped in after the realpath check is not followed either.
 */
import { type BigIntStats, constants } from 'node:fs';
import { type FileHandle, open, realpath } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { isSafeFileName } from '../manifest/index.ts';

/** An open regular file of the served folder; the caller closes `handle`. */
export interface OpenedFile {
  handle: FileHandle;
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
 * Opens `name` (already checked with isSafeFileName) inside `dir`, or resolves to `undefined` when there is no
 * regular file of that name inside the folder. Other file-system errors are thrown.
 *
 * @example
 * ```ts
 * const file = await openInside('dist/federation', 'mf-manifest.json');
 * if (file) try { await file.handle.readFile(); } finally { await file.handle.close(); }
 * ```
 */
export async function openInside(dir: string, name: string): Promise<OpenedFile | undefined> {
  try {
    // Side by side: the file's real path resolves the folder's symlinks too, so it does not need the folder's first.
    const [root, realPath] = await Promise.all([realpath(dir), realpath(join(dir, name))]);
    const inside = relative(root, realPath).split(sep).join('/');
    if (!isSafeFileName(inside)) return undefined;
    // O_NONBLOCK: opening a FIFO someone left in the folder must not hang the request (it is then not a file).
    const handle = await open(realPath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const stat = await handle.stat({ bigint: true });
      if (stat.isFile()) return { handle, stat, realPath };
    } catch (error) {
      await handle.close();
      throw error;
    }
    await handle.close();
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
