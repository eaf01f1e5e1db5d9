/**
 * Reading a file of the host's cache folder as nothing but a regular file of bounded size. Anyone who can write the
 * folder could plant something else under a cache entry's name: a FIFO (an ordinary read waits forever for a writer),
 * a link to `/dev/zero` (an ordinary read never ends and fills the heap), or a huge file. So the file is opened
 * without following a symlink and without blocking, must be a regular file, and is read only up to the size the
 * caller expects; anything else is treated as absent (the caller then fetches from the remote, or starts without it).
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';

const FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** The file is not a regular file of at most the expected size (`code` is `EISDIR` for a folder, as fs says). */
export class NotARegularFile extends Error {
  override readonly name = 'NotARegularFile';
  readonly code: string | undefined;

  constructor(path: string, stat: { isDirectory(): boolean; isFile(): boolean; size: number }, maxBytes: number) {
    super(
      stat.isDirectory()
        ? `EISDIR: ${path} is a folder`
        : stat.isFile()
          ? `${path} is ${stat.size} bytes, more than the ${maxBytes} expected`
          : `${path} is not a regular file (a FIFO, a socket or a device)`,
    );
    this.code = stat.isDirectory() ? 'EISDIR' : undefined;
  }
}

/**
 * The bytes of `path` when it is a regular file of at most `maxBytes`; throws the file system's error when it cannot
 * be opened (ENOENT when absent, ELOOP for a symlink), and {@link NotARegularFile} for anything else.
 */
export async function readRegularFile(path: string, maxBytes: number): Promise<Buffer> {
  const handle = await open(path, FLAGS);
  try {
    const stat = await handle.stat();
    if (!stat.isFile() || stat.size > maxBytes) throw new NotARegularFile(path, stat, maxBytes);
    const bytes = Buffer.alloc(stat.size);
    let read = 0;
    while (read < bytes.byteLength) {
      const { bytesRead } = await handle.read(bytes, read, bytes.byteLength - read, read);
      if (bytesRead === 0) break;
      read += bytesRead;
    }
    // A file that shrank while it was read is not the file that was stat'ed: the hash check refuses it anyway.
    return read === bytes.byteLength ? bytes : bytes.subarray(0, read);
  } finally {
    await handle.close();
  }
}

/** {@link readRegularFile}, synchronously (for the one read at `createHost()`). */
export function readRegularFileSync(path: string, maxBytes: number): Buffer {
  const fd = openSync(path, FLAGS);
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile() || stat.size > maxBytes) throw new NotARegularFile(path, stat, maxBytes);
    const bytes = Buffer.alloc(stat.size);
    let read = 0;
    while (read < bytes.byteLength) {
      const count = readSync(fd, bytes, read, bytes.byteLength - read, read);
      if (count === 0) break;
      read += count;
    }
    return read === bytes.byteLength ? bytes : bytes.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}
