/**
 * A version's folder on the host: `<cache.dir>/versions/<remote>@<version>-<manifest digest>/`, where the files its
 * code reads at run time (the manifest's `assets`) are laid out at their path in the remote's project, so
 * `new URL('./data.txt', import.meta.url)`, `import.meta.dirname` and `__dirname` find them as they do locally.
 *
 * What a host guarantees about these files: each is written from bytes checked against the manifest (size and
 * sha384), atomically, read-only (mode 0444) in folders only the host's user may enter (0700); a folder a host finds
 * already there is checked again file by file, and a file that differs is written anew. The remote's code then reads
 * them with `fs` like any file: ferry does not check them again at each read, so whoever can write the host's cache
 * folder could change them in between (keep `cache.dir` the host's alone).
 */
import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeFileAtomic } from '../../common/atomic-write.ts';
import { integrityOf, type Manifest } from '../../manifest/index.ts';
import { versionFolderName } from '../cache/cache-prune.ts';
import { readRegularFile } from '../cache/regular-file.ts';

/**
 * The folder of a version under `versionsDir`, named by the cache's pruning (cache/cache-prune.ts), which removes the
 * folders of versions no record references any more.
 */
export function versionFolderOf(versionsDir: string, manifest: Manifest, integrity: string): string {
  return join(versionsDir, versionFolderName(manifest.name, manifest.ferry.version, integrity));
}

/** The `file:` URL of `path` (`/`-separated, relative to the project root) in the version's folder. */
export function fileUrlIn(folder: string, path: string): URL {
  return pathToFileURL(join(folder, ...path.split('/')));
}

/** Lays out one verified asset at `path` in `folder`, unless the same bytes are already there. */
export async function layOutAsset(folder: string, path: string, bytes: Uint8Array): Promise<void> {
  const target = join(folder, ...path.split('/'));
  const present = await readRegularFile(target, bytes.byteLength).catch(() => undefined);
  if (present !== undefined && integrityOf(present) === integrityOf(bytes)) return;
  // A read-only file of another content (a changed copy): replaced atomically.
  await chmod(target, 0o600).catch(() => {});
  await writeFileAtomic(target, bytes, { mode: 0o444, createParent: true, parentMode: 0o700 });
}
