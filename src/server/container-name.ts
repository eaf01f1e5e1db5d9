/**
 * Knows the name of the container entry of the folder's current build, read from `mf-manifest.json`'s
 * `ferry.remoteEntry`. The container is the one JavaScript file hosts fetch under a fixed name, so it must be
 * revalidated even if its configured name happened to look content-hashed. The parsed name is cached per version of
 * the manifest file (inode, size, mtime), so a rebuild is noticed on the next request.
 */
import { MANIFEST_FILE, parseManifest } from '../manifest/index.ts';
import { openInside, versionKey } from './open-file.ts';

/** Reads the current container name of a folder; see {@link ContainerNameReader.read}. */
export class ContainerNameReader {
  readonly #dir: string;
  #cached: { key: string; name: string | undefined } | undefined;

  constructor(dir: string) {
    this.#dir = dir;
  }

  /**
   * The current `ferry.remoteEntry`, or `undefined` when the manifest is missing or invalid (mid-rebuild, or not a
   * ferry folder); callers then treat every file as revalidated, which is always safe.
   *
   * @example
   * ```ts
   * await new ContainerNameReader('dist/federation').read(); // 'remoteEntry.js'
   * ```
   */
  async read(): Promise<string | undefined> {
    let file: Awaited<ReturnType<typeof openInside>>;
    try {
      file = await openInside(this.#dir, MANIFEST_FILE);
    } catch {
      return undefined;
    }
    if (!file) return undefined;
    try {
      const key = versionKey(file);
      if (this.#cached?.key === key) return this.#cached.name;
      let name: string | undefined;
      try {
        name = parseManifest(await file.handle.readFile(), MANIFEST_FILE).ferry.remoteEntry;
      } catch {
        name = undefined;
      }
      this.#cached = { key, name };
      return name;
    } finally {
      await file.handle.close();
    }
  }
}
