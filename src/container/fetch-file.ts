/**
 * The container's files, fetched relative to its own URL and checked against the size and `sha384-` integrity
 * embedded in the container before anyone sees them: `http(s):` with the global `fetch` (a deadline, the status
 * checked before the body, a byte cap while the body streams), `file:` from disk. Each file is fetched once per
 * container; a failed fetch is forgotten, so a later `get()` tries again.
 */
import {
  HttpStatusError,
  IntegrityError,
  NetworkError,
  ResponseTooLargeError,
  TimeoutError,
} from '../common/errors.ts';
import { builtin } from './builtins.ts';
import type { ContainerFile } from './types.ts';

/** How long one file may take, connection to last byte. */
export const FETCH_DEADLINE_MS = 10_000;

/** The `sha384-…` integrity of `bytes` (SRI form, as the build writes it). */
function integrityOf(bytes: Uint8Array): string {
  const { createHash } = builtin('node:crypto');
  return `sha384-${createHash('sha384').update(bytes).digest('base64')}`;
}

/** More than this many bytes past the expected size is not read at all: the file is refused as too large. */
function capFor(size: number): number {
  return size + Math.max(size, 64 * 1024);
}

async function readHttp(url: URL, name: string, remote: string, expected: ContainerFile): Promise<Uint8Array> {
  const signal = AbortSignal.timeout(FETCH_DEADLINE_MS);
  const details = { remote, url: url.href, file: name };
  try {
    const response = await fetch(url, { signal });
    if (!response.ok) {
      await response.body?.cancel().catch(() => {});
      throw new HttpStatusError(
        `Fetching ${url.href} (file ${name} of ferry remote "${remote}") answered HTTP ${response.status}; the ` +
          'container reads its files beside its remoteEntry.js. Serve the whole build output folder at that URL.',
        { ...details, status: response.status },
      );
    }
    const cap = capFor(expected.size);
    const declared = Number(response.headers.get('content-length') ?? Number.NaN);
    const tooLarge = (got: string) =>
      new ResponseTooLargeError(
        `${url.href} (file ${name} of ferry remote "${remote}") is ${got} bytes; the build says ${expected.size}. ` +
          'Refused without reading it: the server serves something other than this build.',
        details,
      );
    if (declared > cap) {
      await response.body?.cancel().catch(() => {});
      throw tooLarge(String(declared));
    }
    const chunks: Uint8Array[] = [];
    let length = 0;
    if (response.body) {
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
        length += chunk.byteLength;
        if (length > cap) throw tooLarge(`more than ${cap}`);
        chunks.push(chunk);
      }
    }
    return Buffer.concat(chunks, length);
  } catch (error) {
    if (error instanceof HttpStatusError || error instanceof ResponseTooLargeError) throw error;
    if (signal.aborted) {
      throw new TimeoutError(
        `Fetching ${url.href} (file ${name} of ferry remote "${remote}") took longer than ${FETCH_DEADLINE_MS} ms and ` +
          'was aborted. Check that the remote is up and reachable from this host.',
        { ...details, cause: error },
      );
    }
    throw new NetworkError(
      `Fetching ${url.href} (file ${name} of ferry remote "${remote}") failed: ${(error as Error)?.message ?? error}. ` +
        'Check that the remote is up and reachable from this host.',
      { ...details, cause: error },
    );
  }
}

async function readDisk(url: URL, name: string, remote: string): Promise<Uint8Array> {
  const { readFile } = builtin('node:fs/promises');
  try {
    return await readFile(url);
  } catch (error) {
    throw new NetworkError(
      `Reading ${url.href} (file ${name} of ferry remote "${remote}") failed: ${(error as Error).message}. The ` +
        'container reads its files beside its remoteEntry.js: keep the whole build output folder together.',
      { remote, url: url.href, file: name, cause: error },
    );
  }
}

/**
 * The bytes of file `name` (relative to `base`, the container's URL), checked against `expected`. Throws an
 * IntegrityError naming the file, both sizes and both integrities when they differ.
 */
export async function fetchVerified(
  base: URL,
  name: string,
  expected: ContainerFile,
  remote: string,
): Promise<Uint8Array> {
  const url = new URL(name, base);
  let got: Uint8Array;
  if (url.protocol === 'file:') got = await readDisk(url, name, remote);
  else if (url.protocol === 'http:' || url.protocol === 'https:') got = await readHttp(url, name, remote, expected);
  else {
    throw new NetworkError(
      `The container of ferry remote "${remote}" was loaded from ${base.href}, and cannot fetch ${name} over ` +
        `${url.protocol}. Serve the remote over http(s), or load it from a file path.`,
      { remote, url: url.href, file: name },
    );
  }
  const actual = integrityOf(got);
  if (got.byteLength !== expected.size || actual !== expected.integrity) {
    throw new IntegrityError(
      `Refused ${url.href}: file ${name} of ferry remote "${remote}" is not what its build produced (expected ` +
        `${expected.size} bytes, ${expected.integrity}; got ${got.byteLength} bytes, ${actual}). Nothing from it ran. ` +
        'The remote was changed after `ferry build`, or something between it and this host altered it: rebuild and ' +
        'redeploy the whole output folder, and find out who changed the file.',
      { remote, url: url.href, file: name },
    );
  }
  return got;
}

/** Single-flight, verified file loads of one container: each file fetched once; a failure is forgotten. */
export class FileLoader {
  readonly #files = new Map<string, Promise<Uint8Array>>();
  readonly #remote: string;
  readonly #manifest: Readonly<Record<string, ContainerFile>>;
  readonly #base: () => URL;

  constructor(remote: string, files: Readonly<Record<string, ContainerFile>>, base: () => URL) {
    this.#remote = remote;
    this.#manifest = files;
    this.#base = base;
  }

  /** The verified bytes of `name`; names the container does not list are refused. */
  load(name: string): Promise<Uint8Array> {
    let pending = this.#files.get(name);
    if (pending) return pending;
    const expected = Object.hasOwn(this.#manifest, name) ? this.#manifest[name] : undefined;
    if (!expected) {
      return Promise.reject(
        new IntegrityError(
          `Ferry remote "${this.#remote}" asked for ${name}, a file its container lists no integrity for; it is ` +
            'refused unread. Rebuild the remote with `ferry build`.',
          { remote: this.#remote, file: name },
        ),
      );
    }
    pending = (async () => fetchVerified(this.#base(), name, expected, this.#remote))();
    this.#files.set(name, pending);
    pending.catch(() => {
      if (this.#files.get(name) === pending) this.#files.delete(name);
    });
    return pending;
  }
}
