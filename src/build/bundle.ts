/**
 * Bundling the exposes: one esbuild call for all of them (CommonJS, platform node, target node22). Everything is
 * bundled except Node builtins and the declared shared packages (and their deep imports), which stay `require()`
 * calls the host resolves through the share scope. Output names carry a hash of the final bytes.
 */
import { createHash } from 'node:crypto';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import type { BuildResult as EsbuildResult, Message, Metafile } from 'esbuild';
import { BuildError } from '../common/errors.ts';
import type { ResolvedConfig } from './config.ts';
import { loadEsbuild } from './esbuild.ts';
import { type NativeHit, nativeBinariesPlugin, nativePackageError, nativePackagesIn } from './native-packages.ts';
import { sharedKeyOf } from './shared.ts';

/** One expose's bundle, ready to write. */
export interface ExposeBundle {
  /** The expose key (`./tokenValidator`). */
  key: string;
  /** `tokenValidator.<hash>.js` */
  file: string;
  /** `tokenValidator.<hash>.js.map` */
  map: string;
  code: Uint8Array;
  mapCode: Uint8Array;
  /** Shared modules the bundle requires, sorted: keys of `shared`, or the deep imports a `pkg/` key covers. */
  shared: string[];
  /** The shared requests the bundle makes (`lodash`, `lodash/fp`), which the remote's fallback copies must serve. */
  sharedRequests: string[];
}

/** The bundles, and esbuild's warnings formatted as `file:line: message` text. */
export interface BundleResult {
  bundles: ExposeBundle[];
  warnings: string[];
}

function toPosix(path: string): string {
  return sep === '/' ? path : path.split(sep).join('/');
}

/** Rewrites `sources` (relative to the output folder as esbuild writes them) to be relative to the project root. */
function rewriteMap(text: string, outDir: string, root: string): string {
  const map = JSON.parse(text) as { sources?: string[]; sourcesContent?: unknown };
  map.sources = (map.sources ?? []).map((source) =>
    /^[a-z][a-z0-9+.-]*:/i.test(source) ? source : toPosix(relative(root, resolve(outDir, source))),
  );
  delete map.sourcesContent;
  return JSON.stringify(map);
}

/** The shared modules and requests an output imports, from esbuild's metafile (external imports only). */
function sharedImports(output: Metafile['outputs'][string], shared: readonly string[]) {
  const used = new Set<string>();
  const requests = new Set<string>();
  for (const entry of output.imports) {
    if (!entry.external) continue;
    const key = sharedKeyOf(entry.path, shared);
    if (key === undefined) continue;
    used.add(key);
    requests.add(entry.path);
  }
  return { shared: [...used].sort(), sharedRequests: [...requests].sort() };
}

function contentHash(code: Uint8Array, map: Uint8Array): string {
  return createHash('sha256').update(code).update(map).digest('hex').slice(0, 10);
}

async function format(messages: Message[], kind: 'error' | 'warning'): Promise<string[]> {
  const { formatMessages } = await loadEsbuild();
  return (await formatMessages(messages, { kind, color: false })).map((text) => text.trimEnd());
}

/**
 * Bundles every expose of `config` in memory.
 *
 * @example
 * ```ts
 * const { bundles } = await bundleExposes(await loadConfig({ root }));
 * bundles[0].file; // 'tokenValidator.3f9a1c02bd.js'
 * ```
 */
export async function bundleExposes(config: ResolvedConfig): Promise<BundleResult> {
  const sharedNames = Object.keys(config.shared);
  const entryPoints: Record<string, string> = {};
  for (const expose of config.exposes) entryPoints[expose.name] = expose.import;
  const { build } = await loadEsbuild();
  const native: NativeHit[] = [];
  let result: EsbuildResult<{ write: false; metafile: true }>;
  try {
    result = await build({
      entryPoints,
      absWorkingDir: config.root,
      outdir: config.outDir,
      entryNames: '[name]',
      bundle: true,
      write: false,
      metafile: true,
      format: 'cjs',
      platform: 'node',
      target: 'node22',
      // Builtins are external on platform node; shared packages and their deep imports must be too.
      external: sharedNames.flatMap((name) => (name.endsWith('/') ? [`${name}*`] : [name, `${name}/*`])),
      // External and without a sourceMappingURL comment: hosts fetch maps by the manifest, never by a comment.
      sourcemap: 'external',
      sourcesContent: false,
      splitting: false,
      logLevel: 'silent',
      plugins: [nativeBinariesPlugin(config.root, native)],
    });
  } catch (cause) {
    const errors = (cause as { errors?: Message[] }).errors;
    const detail = errors?.length ? (await format(errors, 'error')).join('\n') : String(cause);
    throw new BuildError(`Bundling remote "${config.name}" failed:\n${detail}`, {
      remote: config.name,
      file: config.configFile,
      cause,
    });
  }

  // Packages with native addons cannot be bundled (src/build/native-packages.ts): refused, with the fix.
  native.push(...(await nativePackagesIn(result.metafile, config.root)));
  if (native.length > 0) throw nativePackageError(config.name, native);

  const outputs = new Map(result.outputFiles.map((file) => [file.path, file]));
  const bundles: ExposeBundle[] = [];
  for (const expose of config.exposes) {
    const jsPath = resolve(config.outDir, `${expose.name}.js`);
    const js = outputs.get(jsPath);
    const map = outputs.get(`${jsPath}.map`);
    const meta = Object.entries(result.metafile.outputs).find(([path]) => resolve(config.root, path) === jsPath)?.[1];
    if (!js || !map || !meta) {
      throw new BuildError(`esbuild produced no output for exposes[${JSON.stringify(expose.key)}] (${jsPath}).`, {
        remote: config.name,
        expose: expose.key,
      });
    }
    const mapCode = new TextEncoder().encode(rewriteMap(map.text, config.outDir, config.root));
    const hash = contentHash(js.contents, mapCode);
    const file = `${expose.name}.${hash}.js`;
    bundles.push({
      key: expose.key,
      file,
      map: `${file}.map`,
      code: js.contents,
      mapCode,
      ...sharedImports(meta, sharedNames),
    });
  }
  return { bundles, warnings: await format(result.warnings, 'warning') };
}

/** True when `file` is a name the build writes per expose (`<stem>.<10 hex>.js`, its `.map`, or `.d.ts`). */
export function isBundleFileName(file: string): boolean {
  return /^[A-Za-z0-9@_-][A-Za-z0-9@._-]*\.[0-9a-f]{10}\.(?:js|js\.map|d\.ts)$/.test(file) && !isAbsolute(file);
}
