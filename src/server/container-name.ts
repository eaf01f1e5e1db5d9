/**
 * Knows which container names of the folder's current build are fixed names, read from `mf-manifest.json`: the
 * configured `filename` (`metaData.remoteEntry.name`, which `ferry build` rewrites in place for Module Federation
 * tooling) and `ferry.remoteEntry` unless it is that name's content-addressed form (`remoteEntry.<10 hex>.js`, what
 * `ferry build` lists). A fixed name must be revalidated even if it happened to look content-hashed; the
 * content-addressed container never changes under its name and is immutable like the bundles. The parsed names are
 * cached per version of the manifest file (device, inode, size, mtime, ctime), so a rebuild is noticed on the next
 * request; whether the version changed is one `stat`, not the checked open of the file a read takes (two `realpath`
 * calls, open, `fstat`, close: the server asked this for every bundle it served, doubling the file-system calls of
 * each). Synchronous, like the server's other calls on its folder (src/server/open-file.ts).
 */
import { closeSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isContainerFileOf, MANIFEST_FILE, parseManifest } from '../manifest/index.ts';
import { fileIdentity, openInside, versionKey } from './open-file.ts';

/** Reads the fixed container names of a folder; see {@link ContainerNameReader.read}. */
export class ContainerNameReader {
  readonly #dir: string;
  /** `seen`: the manifest's identity as `stat` gives it through the folder's path; `key`: as the checked open gave it. */
  #cached: { seen: string; key: string; names: ReadonlySet<string> | undefined } | undefined;

  constructor(dir: string) {
    this.#dir = dir;
  }

  /**
   * The current build's container names that are not content-addressed, or `undefined` when the manifest is missing
   * or invalid (mid-rebuild, or not a ferry folder); callers then treat every file as revalidated, which is always
   * safe.
   *
   * @example
   * ```ts
   * new ContainerNameReader('dist/federation').read(); // Set { 'remoteEntry.js' }
   * ```
   */
  read(): ReadonlySet<string> | undefined {
    let seen: string;
    try {
      seen = fileIdentity(statSync(join(this.#dir, MANIFEST_FILE), { bigint: true }));
    } catch {
      return undefined;
    }
    // The same file as when its names were read (a rebuild, or a switched `current` symlink, is another file).
    if (this.#cached?.seen === seen) return this.#cached.names;
    let file: ReturnType<typeof openInside>;
    try {
      file = openInside(this.#dir, MANIFEST_FILE);
    } catch {
      return undefined;
    }
    if (!file) return undefined;
    try {
      const key = versionKey(file);
      // Remembered under what the stat saw only if it saw the file that was opened (not one replaced in between).
      if (fileIdentity(file.stat) !== seen) seen = '';
      if (this.#cached?.key === key) {
        this.#cached = { ...this.#cached, seen };
        return this.#cached.names;
      }
      let names: Set<string> | undefined;
      try {
        const manifest = parseManifest(readFileSync(file.fd), MANIFEST_FILE);
        // The parser does not check the Module Federation fields (ferry never loads by them): read it with care.
        const configured: unknown = manifest.metaData?.remoteEntry?.name;
        const listed = manifest.ferry.remoteEntry;
        names = new Set(typeof configured === 'string' ? [configured] : []);
        // An older build lists the configured name itself: then it is the fixed name hosts revalidate.
        if (typeof configured !== 'string' || !isContainerFileOf(listed, configured)) names.add(listed);
      } catch {
        names = undefined;
      }
      this.#cached = { seen, key, names };
      return names;
    } finally {
      closeSync(file.fd);
    }
  }
}
