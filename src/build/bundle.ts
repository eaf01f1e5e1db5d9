/**
 * Bundling the exposes: one esbuild call for all of them, as ES modules (platform node, target node22) with code
 * splitting, so top-level await, `import.meta` and `import()` of the remote's own modules work as they do locally;
 * each output file is then rewritten as a ferry module (ferry-module.ts) that the host compiles with node:vm.
 * Everything is bundled except Node builtins and the declared shared packages (and their deep imports), which the
 * host resolves through the share scope. Output names carry esbuild's content hash.
 *
 * `import.meta`, `__dirname` and `__filename` in the project's own modules are per module (a plugin gives each module
 * its own `import.meta`, pointing where the module's source sits in the remote's folder as the host lays it out), and
 * `new URL('./file', import.meta.url)` finds the files the code reads beside it: they ship as assets (assets.ts).
 */
import { readFile } from 'node:fs/promises';
import { dirname, extname, isAbsolute, relative, resolve, sep } from 'node:path';
import type { BuildResult as EsbuildResult, Loader, Message, Metafile, Plugin } from 'esbuild';
import { BuildError } from '../common/errors.ts';
import type { ResolvedConfig } from './config.ts';
import { loadEsbuild } from './esbuild.ts';
import { toFerryModule } from './ferry-module.ts';
import { type NativeHit, nativeBinariesPlugin, nativePackageError, nativePackagesIn } from './native-packages.ts';
import { sharedKeyOf } from './shared.ts';

/** One file the bundler wrote: an expose's entry or a chunk, with its source map. */
export interface BundleFile {
  /** `tokenValidator.<hash>.js`, `chunk.<hash>.js` */
  file: string;
  /** `<file>.map` */
  map: string;
  code: Uint8Array;
  mapCode: Uint8Array;
}

/** One expose's bundle, ready to write. */
export interface ExposeBundle extends BundleFile {
  /** The expose key (`./tokenValidator`). */
  key: string;
  /** Its entry is a CommonJS module: the host gives `module.exports` (the default export), as `require` would. */
  commonjs: boolean;
  /** The chunks its entry imports statically, directly or through other chunks (fetched with it). */
  chunks: string[];
  /** Shared modules the bundle requires, sorted: keys of `shared`, or the deep imports a `pkg/` key covers. */
  shared: string[];
  /** The shared requests the bundle makes (`lodash`, `lodash/fp`), which the remote's fallback copies must serve. */
  sharedRequests: string[];
}

/** The bundles, the chunks they share, the files their code reads (project-relative paths), esbuild's warnings. */
export interface BundleResult {
  bundles: ExposeBundle[];
  chunks: BundleFile[];
  assets: string[];
  warnings: string[];
}

/** `new URL('./data.txt', import.meta.url)`: a file the module reads beside itself, by a literal path. */
const NEW_URL = /new\s+URL\(\s*(["'`])(\.{1,2}\/[^"'`$\n]+)\1\s*,\s*import\.meta\.url\s*\)/g;
const LOADERS: Record<string, Loader> = { '.ts': 'ts', '.mts': 'ts', '.cts': 'ts', '.tsx': 'tsx', '.jsx': 'jsx' };

/** Inserts `text` after a hashbang line and a directive prologue, on the same line, so no line number moves. */
function insertAtStart(source: string, text: string): string {
  const head = /^(#![^\n]*\n)?(\s*(?:(["'])use strict\3;?\s*)?)/.exec(source)!;
  return source.slice(0, head[0].length) + text + source.slice(head[0].length);
}

/**
 * The plugin that gives each of the project's own modules its own `import.meta` (and `__dirname`, `__filename`),
 * from `__ferryModuleMeta(<path in the project>)`, and collects the files `new URL('./x', import.meta.url)` names.
 * Modules under node_modules keep the bundle's `import.meta` and are left as they are.
 */
function moduleMetaPlugin(root: string, assets: Set<string>, warnings: string[]): Plugin {
  return {
    name: 'ferry-module-meta',
    setup(build) {
      build.onLoad({ filter: /\.[cm]?[jt]sx?$/ }, async (args) => {
        const path = relative(root, args.path);
        if (path.startsWith('..') || isAbsolute(path) || path.split(sep).includes('node_modules')) return undefined;
        const source = await readFile(args.path, 'utf8');
        const meta = source.includes('import.meta');
        const paths = /\b__(?:dirname|filename)\b/.test(source);
        if (!meta && !paths) return undefined;
        for (const match of source.matchAll(NEW_URL)) {
          const target = resolve(dirname(args.path), match[2]!);
          const asset = relative(root, target);
          if (asset.startsWith('..') || isAbsolute(asset)) {
            warnings.push(
              `${toPosix(path)}: new URL(${JSON.stringify(match[2])}, import.meta.url) points outside the project; it is not shipped.`,
            );
          } else assets.add(toPosix(asset));
        }
        const own = `var __ferryMeta = __ferryModuleMeta(${JSON.stringify(toPosix(path))})`;
        const both = paths ? `${own}, __dirname = __ferryMeta.dirname, __filename = __ferryMeta.filename;` : `${own};`;
        return { contents: insertAtStart(source, both), loader: LOADERS[extname(args.path)] ?? 'js' };
      });
    },
  };
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

/** The shared modules and requests an output imports, through the chunks it imports (external imports only). */
function sharedImports(
  outputs: Metafile['outputs'],
  start: string,
  chunks: readonly string[],
  shared: readonly string[],
) {
  const used = new Set<string>();
  const requests = new Set<string>();
  for (const path of [start, ...chunks]) {
    for (const entry of outputs[path]?.imports ?? []) {
      if (!entry.external) continue;
      const key = sharedKeyOf(entry.path, shared);
      if (key === undefined) continue;
      used.add(key);
      requests.add(entry.path);
    }
  }
  return { shared: [...used].sort(), sharedRequests: [...requests].sort() };
}

/** The chunks an output imports statically, directly or through other chunks (metafile paths). */
function staticChunks(outputs: Metafile['outputs'], start: string): string[] {
  const seen = new Set<string>();
  const visit = (path: string) => {
    for (const entry of outputs[path]?.imports ?? []) {
      if (entry.external || entry.kind !== 'import-statement' || seen.has(entry.path)) continue;
      seen.add(entry.path);
      visit(entry.path);
    }
  };
  visit(start);
  return [...seen];
}

async function format(messages: Message[], kind: 'error' | 'warning'): Promise<string[]> {
  const { formatMessages } = await loadEsbuild();
  return (await formatMessages(messages, { kind, color: false })).map((text) => text.trimEnd());
}

/** Bundles every expose of `config` in memory, as ferry modules. */
export async function bundleExposes(config: ResolvedConfig): Promise<BundleResult> {
  const sharedNames = Object.keys(config.shared);
  const entryPoints: Record<string, string> = {};
  for (const expose of config.exposes) entryPoints[expose.name] = expose.import;
  const { build } = await loadEsbuild();
  const assets = new Set<string>();
  const pluginWarnings: string[] = [];
  const native: NativeHit[] = [];
  let result: EsbuildResult<{ write: false; metafile: true }>;
  try {
    result = await build({
      entryPoints,
      absWorkingDir: config.root,
      outdir: config.outDir,
      entryNames: '[name].[hash]',
      chunkNames: 'chunk.[hash]',
      bundle: true,
      write: false,
      metafile: true,
      format: 'esm',
      splitting: true,
      platform: 'node',
      target: 'node22',
      // Per module where the plugin gave one (a local `__ferryMeta`), else the bundle file's own.
      define: { 'import.meta': '__ferryMeta' },
      plugins: [nativeBinariesPlugin(config.root, native), moduleMetaPlugin(config.root, assets, pluginWarnings)],
      // Builtins are external on platform node; shared packages and their deep imports must be too.
      // Remotes the code imports (`pricing/prices`) are resolved by the host's federation.
      external: [
        ...sharedNames.flatMap((name) => (name.endsWith('/') ? [`${name}*`] : [name, `${name}/*`])),
        ...Object.keys(config.remotes).flatMap((name) => [name, `${name}/*`]),
      ],
      // External and without a sourceMappingURL comment: hosts fetch maps by the manifest, never by a comment.
      sourcemap: 'external',
      sourcesContent: false,
      logLevel: 'silent',
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

  const { outputs } = result.metafile;
  const nameOf = (path: string) => toPosix(relative(config.outDir, resolve(config.root, path)));
  const files = new Map<string, BundleFile>();
  for (const output of result.outputFiles) {
    if (output.path.endsWith('.map')) continue;
    const file = toPosix(relative(config.outDir, output.path));
    const map = result.outputFiles.find((candidate) => candidate.path === `${output.path}.map`);
    if (!map)
      throw new BuildError(`esbuild wrote no source map for ${file} (a bug in ferry).`, { remote: config.name });
    const code = await toFerryModule(output.text, file, (specifier) => specifier);
    files.set(file, {
      file,
      map: `${file}.map`,
      code: new TextEncoder().encode(code),
      mapCode: new TextEncoder().encode(rewriteMap(map.text, config.outDir, config.root)),
    });
  }

  const bundles: ExposeBundle[] = [];
  const entries = new Set<string>();
  for (const expose of config.exposes) {
    const meta = Object.entries(outputs).find(
      ([, output]) =>
        output.entryPoint !== undefined &&
        resolve(config.root, output.entryPoint) === resolve(config.root, expose.import),
    );
    const bundle = meta && files.get(nameOf(meta[0]));
    if (!meta || !bundle) {
      throw new BuildError(
        `esbuild produced no output for exposes[${JSON.stringify(expose.key)}] (${expose.import}).`,
        {
          remote: config.name,
          expose: expose.key,
        },
      );
    }
    entries.add(bundle.file);
    const chunks = staticChunks(outputs, meta[0]);
    const input = result.metafile.inputs[meta[1].entryPoint!];
    bundles.push({
      ...bundle,
      key: expose.key,
      commonjs: input?.format === 'cjs',
      chunks: chunks.map(nameOf).sort(),
      ...sharedImports(outputs, meta[0], chunks, sharedNames),
    });
  }
  const chunks = [...files.values()].filter((file) => !entries.has(file.file));
  const warnings = [...pluginWarnings, ...(await format(result.warnings, 'warning'))];
  return { bundles, chunks, assets: [...assets].sort(), warnings };
}

/**
 * True when `file` is a name the build writes per build: a bundle or chunk (`<stem>.<esbuild hash>.js`), its `.map`,
 * a declaration or fallback file (`<stem>.<10 hex>.(js|d.ts)`).
 */
export function isBundleFileName(file: string): boolean {
  return (
    /^[A-Za-z0-9@_-][A-Za-z0-9@._-]*\.(?:[0-9a-f]{10}|[A-Z0-9]{8})\.(?:js|js\.map|d\.ts)$/.test(file) &&
    !isAbsolute(file)
  );
}
