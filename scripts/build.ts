/**
 * `npm run build`: writes the package's dist/ from src/.
 *
 * - JavaScript: esbuild bundles each package entry (`ferry`, `ferry/build`, `ferry/server`, `ferry/manifest`,
 *   `ferry/register`, `ferry/testing` and the CLI) as an ES module at the path package.json's `exports` names, with
 *   code splitting: what several entries use (the runtime, the errors) is one shared chunk under dist/chunks/, so
 *   `ferry` and `ferry/register` share one runtime and one set of error classes, and `instanceof FerryError` holds
 *   across them.
 *   Packages (esbuild, oxc-transform, TypeScript) stay imports, resolved from node_modules as before. semver is the
 *   exception: its four functions are bundled into the runtime's chunk (its licence in dist/THIRD-PARTY-NOTICES), since
 *   as a package its ~15 CommonJS files were resolved, read and wrapped one by one at every host's start (~10 ms of
 *   a first import where nothing else had loaded semver; bench/README.md).
 *   Why bundle at all: a host loads ferry at start-up, and resolving and linking its ~40 small modules one by one
 *   took about as long as running them (`import 'ferry'`: ~32 → ~15 ms on the bench machine, bench/README.md).
 * - Declarations: tsc, `emitDeclarationOnly`, one .d.ts per source file as before (the `exports` types point there).
 *
 * - The container runtime (src/container/): one script, dist/container/runtime.js, that `ferry build` embeds in every
 *   remoteEntry.js (src/build/container-runtime.ts reads it from there); not an entry: no host imports it.
 *
 * The dynamic `import()`s of the CLI's commands and of the build's optional tools stay dynamic (separate chunks), so
 * `ferry serve` and every host entry still never load esbuild: test/package-layout.test.ts walks the built chunks.
 *
 * @example
 * ```sh
 * node scripts/build.ts   # what `npm run build` runs
 * ```
 */
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build, type Plugin } from 'esbuild';
import { bundleContainerRuntime } from '../src/build/container-runtime.ts';

const root = join(import.meta.dirname, '..');

/** Every bare import (a package) stays an import, except those `bundled` matches. */
function externalPackagesBut(bundled: RegExp): Plugin {
  return {
    name: 'external-packages',
    setup(plugin) {
      plugin.onResolve({ filter: /^[^./]/ }, (args) =>
        bundled.test(args.path) || args.path.startsWith('node:') ? undefined : { path: args.path, external: true },
      );
    },
  };
}
const dist = join(root, 'dist');

/** The package entries, by the path under dist/ that package.json's `exports` (and bin/ferry.js) name. */
const ENTRIES: Record<string, string> = {
  index: 'src/index.ts',
  'build/index': 'src/build/index.ts',
  'server/index': 'src/server/index.ts',
  'manifest/index': 'src/manifest/index.ts',
  'register/index': 'src/register/index.ts',
  'otel/index': 'src/otel/index.ts',
  'inspector/index': 'src/inspector/index.ts',
  'testing/index': 'src/testing/index.ts',
  'cli/main': 'src/cli/main.ts',
};

await rm(dist, { recursive: true, force: true });

const tsc = spawnSync(
  process.execPath,
  [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json', '--emitDeclarationOnly'],
  {
    cwd: root,
    stdio: 'inherit',
  },
);
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

await build({
  absWorkingDir: root,
  entryPoints: Object.entries(ENTRIES).map(([out, input]) => ({ in: input, out })),
  outdir: dist,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  // Packages stay imports, except semver (see above).
  plugins: [externalPackagesBut(/^semver(\/|$)/)],
  // Error classes set `name` from their class name; bundling must not rename them when two files use one name.
  keepNames: true,
  sourcemap: 'linked',
  sourcesContent: false,
  logLevel: 'warning',
});

await writeFile(
  join(dist, 'THIRD-PARTY-NOTICES'),
  `dist/ includes semver (https://github.com/npm/node-semver), under this licence:\n\n${await readFile(
    join(root, 'node_modules', 'semver', 'LICENSE'),
    'utf8',
  )}`,
);
await mkdir(join(dist, 'container'), { recursive: true });
await writeFile(
  join(dist, 'container', 'runtime.js'),
  await bundleContainerRuntime(join(root, 'src/container/index.ts')),
);
