/**
 * Reading a file of the host's cache folder as nothing but a regular file of bounded size. Anyone who can write the
 * folder could plant something else under a cache entry's name: a FIFO (an ordinary read waits forever for a writer),
 * a link to `/dev/zero` (an ordinary read never ends and fills the heap), or a huge file. So the file is opened
 * without following a symlink and without blocking, must be a regular file, and is read only up to the size the
 * caller expects; anything else is treated as absent (the caller then fetches from the remote, or starts without it).
 *
 * A host reads many small files from its cache as it starts (per remote: its record, manifest, signature and files),
 * so a file is opened and checked synchronously (two metadata calls on the host's own folder, as Node's module loader
 * does for every module it loads) and read synchronously when it is at most {@link SYNC_IO_BYTES}: a round trip
 * through libuv's thread pool per call costs three to four times the CPU of the call itself (bench/ROUNDS.md, sixth
 * round), and leaves those threads to the app. A larger file is read asynchronously, so it never holds the event loop
 * for longer than a small one.
 */
import { closeSync, constants, fstatSync, openSync, read, readSync, type Stats } from 'node:fs';
import { promisify } from 'node:util';

const FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** Files up to this size are read synchronously (most code files, and manifests, signatures and records). */
export const SYNC_IO_BYTES = 64 * 1024;

const readAsync = promisify(read);

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
  return (await readRegularFileAndStat(path, maxBytes)).bytes;
}

/** {@link readRegularFile}, with the file's metadata as it was opened (its modification time, for one). */
export async function readRegularFileAndStat(path: string, maxBytes: number): Promise<{ bytes: Buffer; stat: Stats }> {
  const fd = openSync(path, FLAGS);
  try {
    const stat = checked(path, fstatSync(fd), maxBytes);
    if (stat.size <= SYNC_IO_BYTES) return { bytes: readAll(fd, stat.size), stat };
    const bytes = Buffer.alloc(stat.size);
    let done = 0;
    while (done < bytes.byteLength) {
      const { bytesRead } = await readAsync(fd, bytes, done, bytes.byteLength - done, done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    // A file that shrank while it was read is not the file that was stat'ed: the hash check refuses it anyway.
    return { bytes: done === bytes.byteLength ? bytes : bytes.subarray(0, done), stat };
  } finally {
    closeSync(fd);
  }
}

/** {@link readRegularFile}, synchronously (for the one read at `createHost()`). */
export function readRegularFileSync(path: string, maxBytes: number): Buffer {
  const fd = openSync(path, FLAGS);
  try {
    return readAll(fd, checked(path, fstatSync(fd), maxBytes).size);
  } finally {
    closeSync(fd);
  }
}

function checked(path: string, stat: Stats, maxBytes: number): Stats {
  if (!stat.isFile() || stat.size > maxBytes) throw new NotARegularFile(path, stat, maxBytes);
  return stat;
}

function readAll(fd: number, size: number): Buffer {
  const bytes = Buffer.alloc(size);
  let done = 0;
  while (done < size) {
    const count = readSync(fd, bytes, done, size - done, done);
    if (count === 0) break;
    done += count;
  }
  return done === size ? bytes : bytes.subarray(0, done);
}
