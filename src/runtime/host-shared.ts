/**
 * The host's own shared packages: found in the host's node_modules (walking up from `root`, as Node does), provided
 * to the share scope with the version their package.json states, and loaded with Node's own `require` from `root`.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ResolvedHostOptions } from './options.ts';
import { provide, type SharedProvider, type ShareScope } from './share-scope.ts';

/** A provider that can also load deep imports (`pkg/sub`) of its package, because it is installed on disk. */
export interface InstalledProvider extends SharedProvider {
  requireDeep(id: string): unknown;
}

/** The version of an installed package, found by walking node_modules upward from `root`; undefined if absent. */
export function installedVersion(pkg: string, root: string): string | undefined {
  for (let dir = root; ; dir = dirname(dir)) {
    try {
      const manifest = JSON.parse(readFileSync(join(dir, 'node_modules', pkg, 'package.json'), 'utf8'));
      if (typeof manifest.version === 'string') return manifest.version;
    } catch {
      // not here: keep walking up
    }
    if (dirname(dir) === dir) return undefined;
  }
}

/** Adds the host's installed shared packages to the scope; returns warnings for packages that are not installed. */
export function provideHostPackages(scope: ShareScope, options: ResolvedHostOptions): string[] {
  const warnings: string[] = [];
  const hostRequire = createRequire(join(options.root, 'noop.js'));
  for (const [pkg, shared] of Object.entries(options.shared)) {
    if (shared.import === false) continue;
    const version = shared.version ?? installedVersion(pkg, options.root);
    if (version === undefined) {
      warnings.push(
        `The host "${options.name}" declares "${pkg}" as shared, but it is not installed under ${options.root}; ` +
          'the host provides nothing for it. Install it, or set `import: false` to only consume it.',
      );
      continue;
    }
    const provider: InstalledProvider = {
      from: options.name,
      eager: shared.eager,
      get: async () => () => hostRequire(pkg),
      requireDeep: (id) => hostRequire(id),
    };
    provide(scope, pkg, version, provider);
  }
  return warnings;
}
