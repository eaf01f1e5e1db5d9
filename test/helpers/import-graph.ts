/**
 * Reading the import graph of ES modules as text: the sources under src/ (test/architecture.test.ts) and the bundled
 * chunks under dist/ (test/package-layout.test.ts) alike.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/**
 * The modules a file imports when it runs: static `import`/`export … from`, side-effect imports and dynamic
 * `import()`. `import type`/`export type` are left out because type stripping erases them; an `import { type X }`
 * counts, because verbatimModuleSyntax keeps the statement.
 *
 * @example
 * ```ts
 * runtimeImports("import { a } from './a.ts';\nawait import('esbuild');");
 * // [{ specifier: './a.ts', dynamic: false }, { specifier: 'esbuild', dynamic: true }]
 * ```
 */
export function runtimeImports(text: string): Array<{ specifier: string; dynamic: boolean }> {
  const found: Array<{ specifier: string; dynamic: boolean }> = [];
  for (const statement of text.matchAll(/^(?:import|export)\b[^;]*;/gm)) {
    const source = statement[0];
    if (/^(?:import|export)\s+type\b/.test(source)) continue;
    const from = /\bfrom\s+['"]([^'"]+)['"]/.exec(source) ?? /^import\s+['"]([^'"]+)['"]/.exec(source);
    if (from) found.push({ specifier: from[1]!, dynamic: false });
  }
  for (const call of text.matchAll(/(?<![.\w$])import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    found.push({ specifier: call[1]!, dynamic: true });
  }
  return found;
}

/**
 * Every package (by name, `node:` builtins included) that loading `entry` (an absolute path) loads, following
 * its relative static imports; dynamic imports are left out (they load only when called) unless `dynamic` is set.
 * Each package maps to the first file found importing it.
 *
 * @example
 * ```ts
 * const packages = await packagesLoadedBy('/repo/src/index.ts');
 * packages.get('esbuild'); // undefined, or the file that imports it
 * ```
 */
export async function packagesLoadedBy(
  entry: string,
  options: { dynamic?: boolean } = {},
): Promise<Map<string, string>> {
  const packages = new Map<string, string>();
  const seen = new Set<string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const { specifier, dynamic } of runtimeImports(await readFile(file, 'utf8'))) {
      if (dynamic && !options.dynamic) continue;
      if (specifier.startsWith('.')) queue.push(resolve(dirname(file), specifier));
      else {
        // A package by its name: `semver/functions/valid.js` is semver.
        const parts = specifier.split('/');
        const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
        if (!packages.has(name)) packages.set(name, file);
      }
    }
  }
  return packages;
}

/**
 * Every file (absolute path) that loading `entry` loads, itself included, following relative static imports, and
 * dynamic ones too when `dynamic` is set.
 *
 * @example
 * ```ts
 * const files = await modulesLoadedBy('/repo/dist/index.js', { dynamic: true });
 * files.has('/repo/dist/testing/index.js'); // false
 * ```
 */
export async function modulesLoadedBy(entry: string, options: { dynamic?: boolean } = {}): Promise<Set<string>> {
  const seen = new Set<string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const { specifier, dynamic } of runtimeImports(await readFile(file, 'utf8'))) {
      if (dynamic && !options.dynamic) continue;
      if (specifier.startsWith('.')) queue.push(resolve(dirname(file), specifier));
    }
  }
  return seen;
}
