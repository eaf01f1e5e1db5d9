/**
 * Writing the output folder safely while a server may be serving it: every file is written to a temporary name and
 * renamed into place (readers see the old bytes or the new, never half a file), and cleaning keeps the previous
 * generation, because hosts that fetched the previous manifest a moment ago still fetch its files. That only holds
 * because every file a manifest lists has a content-addressed name (the bundles, the container), or the same bytes in
 * every build (`package.json`): a fixed name rewritten in place would hand those hosts the new bytes.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic as writeAtomic } from '../common/atomic-write.ts';
import { isSignatureFileCopy, MANIFEST_FILE, parseManifest, signatureFileFor } from '../manifest/index.ts';
import { ASSETS_DIR } from './assets.ts';
import { isBundleFileName } from './bundle.ts';

/**
 * Writes `bytes` to `dir/name` atomically (a hidden temporary file in the same folder, then rename; see
 * common/atomic-write.ts).
 *
 * @example
 * ```ts
 * await writeOutputFile('dist/federation', 'remoteEntry.js', bytes);
 * ```
 */
export function writeOutputFile(dir: string, name: string, bytes: Uint8Array | string): Promise<void> {
  // A server may read the folder at any moment, so no half-written file; an asset may sit in a folder of its own, made
  // when the write finds it missing.
  return writeAtomic(join(dir, name), bytes, { createParent: true });
}

/**
 * The files of the build currently in `outDir`, which the next build keeps: every file its manifest lists, and the
 * content-addressed copy of its signature (a host that read that manifest may still fetch it). None without one.
 */
export async function previousFiles(outDir: string): Promise<Set<string>> {
  const file = join(outDir, MANIFEST_FILE);
  try {
    const bytes = await readFile(file);
    const manifest = parseManifest(bytes, file);
    return new Set([...Object.keys(manifest.ferry.files), signatureFileFor(bytes)]);
  } catch {
    // No previous build, or one ferry cannot read: nothing from it is worth keeping.
    return new Set();
  }
}

/**
 * Removes build files of older generations from `outDir`: files named like a ferry bundle, map, declaration or
 * container (`<name>.<10 hex>.js`) or a signature copy (`mf-manifest.<32 hex>.sig`) that `keep` (the new and the
 * previous build's files) does not list. Other files, folders and anything outside `outDir` are left alone, so a
 * mistaken `outDir` never costs the user files ferry did not write.
 *
 * @returns the names removed
 */
export async function cleanOutDir(outDir: string, keep: ReadonlySet<string>): Promise<string[]> {
  const removed: string[] = [];
  for (const entry of await readdir(outDir, { withFileTypes: true })) {
    if (!entry.isFile() || keep.has(entry.name)) continue;
    if (!isBundleFileName(entry.name) && !isSignatureFileCopy(entry.name)) continue;
    await rm(join(outDir, entry.name), { force: true });
    removed.push(entry.name);
  }
  // Assets of older generations: a folder `assets/<10 hex>` that no kept file lies in.
  const assets = await readdir(join(outDir, ASSETS_DIR), { withFileTypes: true }).catch(() => []);
  for (const entry of assets) {
    if (!entry.isDirectory() || !/^[0-9a-f]{10}$/.test(entry.name)) continue;
    const prefix = `${ASSETS_DIR}/${entry.name}/`;
    if ([...keep].some((name) => name.startsWith(prefix))) continue;
    await rm(join(outDir, ASSETS_DIR, entry.name), { recursive: true, force: true });
    removed.push(prefix);
  }
  return removed.sort();
}
