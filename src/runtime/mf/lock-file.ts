/**
 * The lock file (`ferry.lock`): what a host pins of each Module Federation remote it loads, written by `ferry lock`
 * and committed with the host's code, like `deno.lock`. Module Federation builds carry no hashes and no signature,
 * so the host refuses any byte of such a remote that is not in its lock. Per remote URL: its name, the container
 * (`entry`), the chunks each expose needs, and every file's size and `sha384-<base64>` integrity. Keys are written in
 * sorted order, so a re-lock reviews as a small diff.
 *
 * The lock proves that the bytes are the ones the team reviewed when it ran `ferry lock`; it says nothing about who
 * built them (SECURITY.md).
 */
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../../common/atomic-write.ts';
import { LockError } from '../../common/errors.ts';
import { isIntegrity } from '../../manifest/index.ts';

/** The layout version of the lock file; bumped on incompatible changes. */
export const LOCK_VERSION = 1;

/** One pinned file: its size in bytes and its `sha384-…` integrity. */
export interface LockedFile {
  size: number;
  integrity: string;
}

/** What the lock pins of one Module Federation remote (keyed by its URL in {@link LockFile.remotes}). */
export interface LockedRemote {
  /** The remote's name (its container's `name`). */
  name: string;
  /** The container file, relative to the URL's folder (a key of `files`). */
  entry: string;
  /** The manifest file when the remote is locked by its `mf-manifest.json` (a key of `files`). */
  manifest?: string;
  /** Per expose key (`./tokenValidator`): the files it needs besides the container, in load order. */
  exposes: Record<string, string[]>;
  /** Every file, relative to the URL's folder: size and integrity. */
  files: Record<string, LockedFile>;
  /**
   * The packages its files `require` (a build with `externals`): the host gives them only from its share scope, so
   * the host must share each one.
   */
  packages: string[];
}

/** The lock file. */
export interface LockFile {
  lockfileVersion: number;
  /** By remote URL, exactly as the host configures it. */
  remotes: Record<string, LockedRemote>;
}

/** An empty lock. */
export function emptyLock(): LockFile {
  return { lockfileVersion: LOCK_VERSION, remotes: {} };
}

const SAFE_FILE = /^(?!.*(?:^|\/)\.\.?(?:\/|$))[A-Za-z0-9._@+~-][A-Za-z0-9._@+~/-]*$/;

/** True for a file name a lock (or an MF manifest) may name: relative, no `..`, no scheme, no backslash. */
export function isSafeLockedName(name: string): boolean {
  return SAFE_FILE.test(name) && !name.includes('//') && name.length <= 512;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Parses the lock file's text with hand-written guards; `path` is named in errors. */
export function parseLock(text: string, path: string): LockFile {
  const fail = (what: string): never => {
    throw new LockError(
      `The lock file ${path} is not valid: ${what}. Write it again with \`ferry lock\` (never by hand).`,
      { file: path, reason: 'malformed' },
    );
  };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    return fail(`not JSON (${(error as Error).message})`);
  }
  if (!isObject(raw)) return fail('not an object');
  if (raw['lockfileVersion'] !== LOCK_VERSION) {
    return fail(`lockfileVersion is ${JSON.stringify(raw['lockfileVersion'])}, this ferry reads ${LOCK_VERSION}`);
  }
  const remotes = raw['remotes'];
  if (!isObject(remotes)) return fail('remotes is not an object');
  const out: LockFile = { lockfileVersion: LOCK_VERSION, remotes: {} };
  for (const [url, value] of Object.entries(remotes)) {
    const where = `remotes[${JSON.stringify(url)}]`;
    if (!/^https?:\/\//.test(url)) fail(`${where} is not an http(s) URL`);
    if (!isObject(value)) return fail(`${where} is not an object`);
    const { name, entry, manifest, exposes, files, packages } = value;
    if (!Array.isArray(packages) || packages.some((pkg) => typeof pkg !== 'string' || pkg === '')) {
      fail(`${where}.packages is not a list of package names`);
    }
    if (typeof name !== 'string' || name === '') fail(`${where}.name is not a name`);
    if (!isObject(files)) return fail(`${where}.files is not an object`);
    const lockedFiles: Record<string, LockedFile> = {};
    for (const [file, entryValue] of Object.entries(files)) {
      if (!isSafeLockedName(file)) fail(`${where}.files has the unsafe name ${JSON.stringify(file)}`);
      if (
        !isObject(entryValue) ||
        typeof entryValue['integrity'] !== 'string' ||
        !isIntegrity(entryValue['integrity']) ||
        typeof entryValue['size'] !== 'number' ||
        !Number.isSafeInteger(entryValue['size']) ||
        entryValue['size'] < 0
      ) {
        fail(`${where}.files[${JSON.stringify(file)}] is not { size, integrity: "sha384-…" }`);
      }
      const locked = entryValue as unknown as LockedFile;
      lockedFiles[file] = { size: locked.size, integrity: locked.integrity };
    }
    const listed = (file: unknown, field: string) => {
      if (typeof file !== 'string' || !Object.hasOwn(lockedFiles, file)) {
        fail(`${where}.${field} names ${JSON.stringify(file)}, which is not in its files`);
      }
      return file as string;
    };
    if (!isObject(exposes)) return fail(`${where}.exposes is not an object`);
    const lockedExposes: Record<string, string[]> = {};
    for (const [key, list] of Object.entries(exposes)) {
      if (key !== '.' && !key.startsWith('./')) fail(`${where}.exposes has the key ${JSON.stringify(key)}`);
      if (!Array.isArray(list)) return fail(`${where}.exposes[${JSON.stringify(key)}] is not a list`);
      lockedExposes[key] = list.map((file, index) => listed(file, `exposes[${JSON.stringify(key)}][${index}]`));
    }
    out.remotes[url] = {
      name: name as string,
      entry: listed(entry, 'entry'),
      ...(manifest === undefined ? {} : { manifest: listed(manifest, 'manifest') }),
      exposes: lockedExposes,
      files: lockedFiles,
      packages: [...(packages as string[])],
    };
  }
  return out;
}

/** Reads the lock file at `path`; a missing file is an empty lock. */
export async function readLock(path: string): Promise<LockFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return emptyLock();
    throw new LockError(`The lock file ${path} cannot be read: ${(error as Error).message}.`, {
      file: path,
      reason: 'malformed',
      cause: error,
    });
  }
  return parseLock(text, path);
}

/** Sorts an object's keys (recursively), so the lock's bytes depend on its content only. */
function sorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sorted);
  if (!isObject(value)) return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((key) => [key, sorted(value[key])]),
  );
}

/** The lock's bytes: sorted keys (expose file lists keep their order), two-space indent, a final newline. */
export function serializeLock(lock: LockFile): string {
  return `${JSON.stringify(sorted(lock), null, 2)}\n`;
}

/** Writes the lock atomically. */
export async function writeLock(path: string, lock: LockFile): Promise<void> {
  await writeFileAtomic(path, serializeLock(lock), { createParent: true });
}
