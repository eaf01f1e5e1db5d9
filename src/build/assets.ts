/**
 * The files a remote's code reads at run time (the `assets` globs, and what `new URL('./x', import.meta.url)` names):
 * written to the output as `assets/<10 hex of their content>/<path in the project>`, so a rebuild never rewrites a
 * file an earlier manifest lists, and listed in the manifest (`ferry.assets`: path in the project -> output file) with
 * their size and sha384 like every file. Hosts lay them out at their path in the project, in a folder per version.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BuildError } from '../common/errors.ts';
import { isSafeFileName } from '../manifest/index.ts';
import type { ResolvedConfig } from './config.ts';

/** The folder of the output that holds the assets. */
export const ASSETS_DIR = 'assets';

/** Writes each asset with `write`; resolves to the manifest's `assets` map. */
export async function writeAssets(
  config: ResolvedConfig,
  paths: readonly string[],
  write: (name: string, bytes: Uint8Array, type: 'asset') => Promise<void>,
): Promise<Record<string, string>> {
  const assets: Record<string, string> = {};
  for (const path of paths) {
    if (!isSafeFileName(path)) {
      throw new BuildError(
        `The asset ${JSON.stringify(path)} of remote "${config.name}" has a name hosts cannot lay out (letters, digits, ` +
          '@ . _ - and / only, no hidden files): rename it.',
        { remote: config.name, file: path },
      );
    }
    let bytes: Buffer;
    try {
      bytes = await readFile(join(config.root, path));
    } catch (cause) {
      throw new BuildError(
        `The asset ${path} of remote "${config.name}" cannot be read (${(cause as Error).message}). The code names it ` +
          'with new URL(…, import.meta.url) or an `assets` pattern matches it: create the file, or fix the path.',
        { remote: config.name, file: path, cause },
      );
    }
    const name = `${ASSETS_DIR}/${createHash('sha256').update(bytes).digest('hex').slice(0, 10)}/${path}`;
    await write(name, bytes, 'asset');
    assets[path] = name;
  }
  return assets;
}
