/**
 * ferry's own version, from its package.json: the nearest one named `ferry` above this module. Found by walking up
 * rather than by a fixed relative path, because the same code runs from src/ (tests), from a dist/ entry or from a
 * shared chunk under dist/chunks/ (scripts/build.ts bundles the package), each at a different depth.
 *
 * @example
 * ```ts
 * ferryVersion(); // '0.1.0'
 * ```
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let version: string | undefined;

/** The `version` of ferry's package.json (read once). Throws when ferry's files were moved out of their package. */
export function ferryVersion(): string {
  if (version !== undefined) return version;
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'ferry' && typeof pkg.version === 'string') {
        version = pkg.version;
        return version;
      }
    } catch {
      // No (readable) package.json here: keep walking up.
    }
    if (dirname(dir) === dir) {
      throw new Error(`ferry's package.json was not found above ${fileURLToPath(import.meta.url)}; reinstall ferry.`);
    }
  }
}
