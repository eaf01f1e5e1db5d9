/**
 * `npm run build`: writes the package's dist/ from src/.
 *
 * - JavaScript: esbuild bundles each package entry (`ferry`, `ferry/build`, `ferry/server`, `ferry/manifest`,
 *   `ferry/register`, `ferry/testing` and the CLI) as an ES module at the path package.json's `exports` names, with
 *   code splitting: what several entries use (the runtime, the errors) is one shared chunk under dist/chunks/, so
 *   `ferry` and `ferry/register` share one runtime and one set of error classes, and `instanceof FerryError` holds
 *   across them.
 *   Packages (esbuild, semver, oxc-transform) stay imports, resolved from node_modules as before.
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
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';
import { bundleContainerRuntime } from '../src/build/container-runtime.ts';

const root = join(import.meta.dirname, '..');
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
  packages: 'external',
  // Error classes set `name` from their class name; bundling must not rename them when two files use one name.
  keepNames: true,
  sourcemap: 'linked',
  sourcesContent: false,
  logLevel: 'warning',
});

await mkdir(join(dist, 'container'), { recursive: true });
await writeFile(
  join(dist, 'container', 'runtime.js'),
  await bundleContainerRuntime(join(root, 'src/container/index.ts')),
);
