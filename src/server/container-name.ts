/**
 * Knows which container names of the folder's current build are fixed names, read from `mf-manifest.json`: the
 * configured `filename` (`metaData.remoteEntry.name`, which `ferry build` rewrites in place for Module Federation
 * tooling) and `ferry.remoteEntry` unless it is that name's content-addressed form (`remoteEntry.<10 hex>.js`, what
 * `ferry build` lists). A fixed name must be revalidated even if it happened to look content-hashed; the
 * content-addressed container never changes under its name and is immutable like the bundles. The parsed names are
 * cached per version of the manifest file (inode, size, mtime), so a rebuild is noticed on the next request.
 */
import { isContainerFileOf, MANIFEST_FILE, parseManifest } from '../manifest/index.ts';
import { openInside, versionKey } from './open-file.ts';

/** Reads the fixed container names of a folder; see {@link ContainerNameReader.read}. */
export class ContainerNameReader {
  readonly #dir: string;
  #cached: { key: string; names: ReadonlySet<string> | undefined } | undefined;

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
   * await new ContainerNameReader('dist/federation').read(); // Set { 'remoteEntry.js' }
   * ```
   */
  async read(): Promise<ReadonlySet<string> | undefined> {
    let file: Awaited<ReturnType<typeof openInside>>;
    try {
      file = await openInside(this.#dir, MANIFEST_FILE);
    } catch {
      return undefined;
    }
    if (!file) return undefined;
    try {
      const key = versionKey(file);
      if (this.#cached?.key === key) return this.#cached.names;
      let names: Set<string> | undefined;
      try {
        const manifest = parseManifest(await file.handle.readFile(), MANIFEST_FILE);
        // The parser does not check the Module Federation fields (ferry never loads by them): read it with care.
        const configured: unknown = manifest.metaData?.remoteEntry?.name;
        const listed = manifest.ferry.remoteEntry;
        names = new Set(typeof configured === 'string' ? [configured] : []);
        // An older build lists the configured name itself: then it is the fixed name hosts revalidate.
        if (typeof configured !== 'string' || !isContainerFileOf(listed, configured)) names.add(listed);
      } catch {
        names = undefined;
      }
      this.#cached = { key, names };
      return names;
    } finally {
      await file.handle.close();
    }
  }
}
