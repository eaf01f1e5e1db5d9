/**
 * The container runtime (src/container/) as the script `ferry build` embeds in every remoteEntry.js: one esbuild
 * bundle (an IIFE assigning `__ferryContainer`, platform node, semver inlined), made once per process.
 *
 * Installed ferry reads the bundle `npm run build` wrote beside its other output (dist/container/runtime.js: this
 * module's code is then in dist/build/ or dist/chunks/, one folder below dist/, as the runtime file is); ferry run
 * from its sources (its own tests) bundles src/container/index.ts on first use.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { BuildError } from '../common/errors.ts';
import { loadEsbuild } from './esbuild.ts';

/** The global name the runtime bundle assigns, which remote-entry.ts calls. */
export const CONTAINER_RUNTIME_GLOBAL = '__ferryContainer';

let runtime: Promise<string> | undefined;

/**
 * Bundles the container runtime from its entry file (src/container/index.ts); scripts/build.ts writes the result to
 * dist/container/runtime.js.
 *
 * @example
 * ```ts
 * const code = await bundleContainerRuntime('src/container/index.ts');
 * ```
 */
export async function bundleContainerRuntime(entry: string): Promise<string> {
  const { build } = await loadEsbuild();
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: 'iife',
    globalName: CONTAINER_RUNTIME_GLOBAL,
    platform: 'node',
    // It runs in other people's hosts: Node 20 too (builtins.ts covers the one newer API it uses).
    target: 'node20',
    // ~37 KB instead of ~50 KB; class names kept, since every error's `name` is its class name.
    minify: true,
    keepNames: true,
    legalComments: 'none',
    banner: { js: '// ferry container runtime (src/container/), bundled with semver (ISC license, npm semver).' },
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}

async function load(): Promise<string> {
  try {
    return await readFile(new URL('../container/runtime.js', import.meta.url), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const source = fileURLToPath(new URL('../container/index.ts', import.meta.url));
  if (!existsSync(source)) {
    throw new BuildError(
      "ferry's container runtime (dist/container/runtime.js) is missing from this installation of ferry, so " +
        'remoteEntry.js cannot be written. Reinstall ferry (npm install ferry).',
    );
  }
  return bundleContainerRuntime(source);
}

/**
 * The container runtime script, loaded once per process.
 *
 * @example
 * ```ts
 * const script = await containerRuntime(); // `var __ferryContainer = (() => { … })();`
 * ```
 */
export function containerRuntime(): Promise<string> {
  runtime ??= load();
  runtime.catch(() => {
    runtime = undefined;
  });
  return runtime;
}
