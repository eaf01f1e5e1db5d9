/**
 * Packages with native addons cannot travel in a bundle: their `.node` binary is built for one platform and Node ABI
 * and loaded from the package's own folder (`node-gyp-build(__dirname)`, `bindings('x.node')`), which a bundle
 * evaluated on a host does not have. esbuild bundles their JavaScript without complaint and the host then fails
 * ("No native build was found"). So the build looks at every package an expose's graph reaches and refuses the ones
 * that are native; declared `shared`, they stay `require()` calls and the host provides its own installed build.
 *
 * The rule, checked on the package's own folder and package.json: `gypfile: true`, a dependency on one of
 * {@link NATIVE_LOADERS}, a `binding.gyp` file, or a `binary` field (node-pre-gyp); and any import of a `.node` file.
 */
import { readFile, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import type { Metafile, Plugin } from 'esbuild';
import { NativePackageError } from '../common/errors.ts';

/** Packages that load a native binary at run time: depending on one means having one. */
export const NATIVE_LOADERS = [
  'node-gyp-build',
  'bindings',
  'prebuild-install',
  '@mapbox/node-pre-gyp',
  'node-pre-gyp',
];

/** One native package an expose's graph reaches. */
export interface NativeHit {
  /** The npm package (`bcrypt`), or the `.node` file's path when it belongs to no package. */
  package: string;
  /** Why it counts as native: `its package.json depends on node-gyp-build`, … */
  reason: string;
  /** The file that imports it, relative to the project root. */
  importer: string;
}

/** The package folder and name a resolved file belongs to (the last `node_modules/<name>` in its path). */
function packageOf(file: string): { dir: string; name: string } | undefined {
  const parts = file.split(sep);
  const index = parts.lastIndexOf('node_modules');
  if (index === -1 || index + 1 >= parts.length) return undefined;
  const scoped = parts[index + 1]!.startsWith('@');
  const name = parts.slice(index + 1, index + (scoped ? 3 : 2)).join('/');
  return { dir: parts.slice(0, index + (scoped ? 3 : 2)).join(sep), name };
}

async function isPackageFile(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

/** Why the package in `dir` is native, or undefined when it is plain JavaScript. */
export async function nativeReason(dir: string): Promise<string | undefined> {
  let pkg: Record<string, unknown>;
  try {
    pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8'));
  } catch {
    return undefined;
  }
  if (pkg.gypfile === true) return 'its package.json says "gypfile": true';
  for (const field of ['dependencies', 'optionalDependencies'] as const) {
    const deps = pkg[field];
    if (typeof deps !== 'object' || deps === null) continue;
    const loader = NATIVE_LOADERS.find((name) => Object.hasOwn(deps, name));
    if (loader !== undefined) return `its package.json depends on ${loader}, which loads a native binary`;
  }
  if (await isPackageFile(join(dir, 'binding.gyp'))) return 'it has a binding.gyp (a node-gyp build)';
  if (typeof pkg.binary === 'object' && pkg.binary !== null)
    return 'its package.json has a node-pre-gyp "binary" field';
  return undefined;
}

/**
 * An esbuild plugin for imports of `.node` files: each is recorded in `hits` and left external, so the build
 * finishes and the caller decides (the exposes: refuse; a shared fallback: no copy). esbuild has no loader for them.
 *
 * @example
 * ```ts
 * const hits: NativeHit[] = [];
 * await build({ …, plugins: [nativeBinariesPlugin(root, hits)] });
 * ```
 */
export function nativeBinariesPlugin(root: string, hits: NativeHit[]): Plugin {
  return {
    name: 'ferry-native-binaries',
    setup(build) {
      build.onResolve({ filter: /\.node$/ }, (args) => {
        const owner = packageOf(join(args.resolveDir, args.path));
        hits.push({
          package: owner?.name ?? args.path,
          reason: `it imports the binary ${args.path}`,
          importer: relative(root, args.importer) || args.importer,
        });
        return { path: args.path, external: true };
      });
    },
  };
}

/**
 * The native packages among the inputs of a finished build (its metafile), each with a file outside it that imports
 * it. Looking after the build, once per package, costs a package.json read each; a resolve hook on every bare import
 * would cost a round trip to esbuild per import.
 *
 * @example
 * ```ts
 * const hits = await nativePackagesIn(result.metafile, root); // [{ package: 'bcrypt', reason: …, importer: 'src/a.ts' }]
 * ```
 */
export async function nativePackagesIn(metafile: Metafile, root: string): Promise<NativeHit[]> {
  const packages = new Map<string, { name: string; files: Set<string> }>();
  for (const input of Object.keys(metafile.inputs)) {
    const owner = packageOf(resolve(root, input));
    if (owner === undefined) continue;
    if (!packages.has(owner.dir)) packages.set(owner.dir, { name: owner.name, files: new Set() });
    packages.get(owner.dir)!.files.add(input);
  }
  const hits: NativeHit[] = [];
  await Promise.all(
    [...packages].map(async ([dir, { name, files }]) => {
      const reason = await nativeReason(dir);
      if (reason === undefined) return;
      const importer = Object.entries(metafile.inputs).find(
        ([input, { imports }]) => !files.has(input) && imports.some((entry) => files.has(entry.path)),
      )?.[0];
      hits.push({
        package: name,
        reason,
        importer: importer === undefined ? '?' : relative(root, resolve(root, importer)),
      });
    }),
  );
  return hits.sort((a, b) => (a.package < b.package ? -1 : 1));
}

/**
 * The error for an expose graph that reaches native packages: each package once, with the file that imports it and
 * the fix for both sides.
 */
export function nativePackageError(remote: string, hits: readonly NativeHit[]): NativePackageError {
  const byPackage = new Map<string, NativeHit>();
  for (const entry of hits) if (!byPackage.has(entry.package)) byPackage.set(entry.package, entry);
  const names = [...byPackage.keys()];
  const lines = [...byPackage.values()].map(
    (entry) => `  ${entry.package}: ${entry.reason} (imported by ${entry.importer})`,
  );
  const shared = names.map((name) => `'${name}': {}`).join(', ');
  return new NativePackageError(
    `Remote "${remote}" cannot bundle native addons; its exposes import:\n${lines.join('\n')}\n` +
      `A bundle cannot carry a compiled .node binary (it is built for one platform and Node version). Declare ` +
      `${names.length === 1 ? 'it' : 'them'} shared in ferry.config: shared: { ${shared} }, and install and ` +
      `declare ${names.length === 1 ? 'it' : 'them'} in every host's \`shared\` too: the host then provides its own build.`,
    { remote, package: names[0]! },
  );
}
