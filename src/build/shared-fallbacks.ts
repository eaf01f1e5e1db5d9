/**
 * The remote's own copies of its shared packages (Module Federation's "fallback"): one esbuild bundle per shared
 * module (CommonJS, platform node, self-contained but for Node builtins), written beside the exposes under a content
 * hash and listed in the manifest. A host fetches and verifies a fallback only when the share scope chooses that copy.
 *
 * A fallback exports one lazy getter per request the exposes make (`{ lodash: () => require('lodash'),
 * 'lodash/fp': () => … }`), so deep imports of a package come from the same copy as the package.
 *
 * Which requests a key serves is known only once the expose bundles are done, but most keys serve just themselves:
 * {@link startSharedFallbacks} bundles each declared package key for that request alone while the exposes are
 * bundled, and {@link bundleSharedFallbacks} uses that result when the requests turn out to be exactly that one.
 */
import { createHash } from 'node:crypto';
import type { BuildOptions, Message } from 'esbuild';
import { BuildError } from '../common/errors.ts';
import type { ExposeBundle } from './bundle.ts';
import type { ResolvedConfig } from './config.ts';
import { loadEsbuild } from './esbuild.ts';
import { FallbackCache } from './fallback-cache.ts';
import { type NativeHit, nativeBinariesPlugin, nativePackagesIn } from './native-packages.ts';
import { type ResolvedShared, sharedKeyOf } from './shared.ts';

/** One shared module as the manifest lists it: a key of `shared`, or a deep import a `pkg/` key covers. */
export interface SharedModule {
  /** The share key (`jsonwebtoken`, or `lodash/fp` under a `lodash/` key). */
  key: string;
  /** The options it was declared with (for a deep import, those of its `pkg/` key). */
  options: ResolvedShared;
  /** The requests its fallback serves (`jsonwebtoken`, `jsonwebtoken/decode`). */
  requests: string[];
  /**
   * The fallback file (`shared-jsonwebtoken.<hash>.js`) and its bytes; absent with `import: false`, and when the
   * package is or depends on a native addon (a bundle cannot carry its binary: hosts must provide it).
   */
  fallback?: { file: string; code: Uint8Array };
}

/** The shared modules of a build: every key of `shared`, with `pkg/` keys expanded to the deep imports used. */
function sharedModules(config: ResolvedConfig, bundles: readonly ExposeBundle[]): SharedModule[] {
  const keys = Object.keys(config.shared);
  const requests = new Map<string, Set<string>>();
  for (const request of bundles.flatMap((bundle) => bundle.sharedRequests)) {
    const key = sharedKeyOf(request, keys);
    if (key === undefined) continue;
    if (!requests.has(key)) requests.set(key, new Set());
    requests.get(key)!.add(request);
  }
  const modules: SharedModule[] = [];
  for (const [declared, options] of Object.entries(config.shared)) {
    const keysHere = declared.endsWith('/')
      ? [...requests.keys()].filter((key) => key.startsWith(declared) && !keys.includes(key)).sort()
      : [declared];
    for (const key of keysHere) {
      // The key's own module is always in (MF's `get()` returns it), with the deep imports the exposes make.
      modules.push({ key, options, requests: [...new Set([key, ...(requests.get(key) ?? [])])].sort() });
    }
  }
  return modules;
}

function fallbackName(key: string, code: Uint8Array): string {
  const hash = createHash('sha256').update(code).digest('hex').slice(0, 10);
  return `shared-${key.replaceAll('/', '-')}.${hash}.js`;
}

/** How fallbacks are made. */
export interface FallbackOptions {
  /**
   * Use and fill the project's fallback cache (src/build/fallback-cache.ts; default true). `ferry build --no-cache`
   * turns it off.
   */
  cache?: boolean;
}

const caches = new WeakMap<ResolvedConfig, Promise<FallbackCache | undefined>>();

/** The fallback cache of the config's project, opened once per resolved config; none when it cannot be opened. */
function cacheOf(config: ResolvedConfig): Promise<FallbackCache | undefined> {
  let cache = caches.get(config);
  if (cache === undefined) {
    cache = loadEsbuild().then(
      ({ version }) => FallbackCache.open(config.root, version),
      () => undefined, // reported by the build that needs esbuild
    );
    caches.set(config, cache);
  }
  return cache;
}

/**
 * A fallback's bytes, or `undefined` when its graph reaches a native addon (no copy can be made). With a `cache`, an
 * earlier build's result for the same options and unchanged inputs is used instead of bundling again.
 */
async function bundleFallback(
  config: ResolvedConfig,
  module: Pick<SharedModule, 'key' | 'options' | 'requests'>,
  useCache: boolean,
): Promise<Uint8Array | undefined> {
  const getters = module.requests.map(
    (request) => `  ${JSON.stringify(request)}: () => require(${JSON.stringify(request)}),`,
  );
  const sourcefile = `ferry-shared-${module.key}.js`;
  const options = {
    stdin: {
      contents: `// ${module.key}@${module.options.version}: the fallback copy of remote ${config.name}.\nmodule.exports = {\n${getters.join('\n')}\n};\n`,
      resolveDir: config.root,
      sourcefile,
      loader: 'js',
    },
    absWorkingDir: config.root,
    bundle: true,
    write: false,
    format: 'cjs',
    platform: 'node',
    target: 'node22',
    logLevel: 'silent',
    metafile: true,
  } satisfies BuildOptions;
  const cache = useCache ? await cacheOf(config) : undefined;
  const cached = cache?.get(options);
  if (cached !== undefined) return cached === null ? undefined : new TextEncoder().encode(cached);
  const { build, formatMessages } = await loadEsbuild();
  const native: NativeHit[] = [];
  try {
    const result = await build({ ...options, plugins: [nativeBinariesPlugin(config.root, native)] });
    native.push(...(await nativePackagesIn(result.metafile, config.root)));
    const code = native.length > 0 ? undefined : result.outputFiles[0]!.contents;
    await cache?.set(
      options,
      Object.keys(result.metafile.inputs),
      code === undefined ? null : result.outputFiles[0]!.text,
      sourcefile,
    );
    return code;
  } catch (cause) {
    const errors = (cause as { errors?: Message[] }).errors;
    const detail = errors?.length
      ? (await formatMessages(errors, { kind: 'error', color: false })).join('\n')
      : String(cause);
    throw new BuildError(
      `Bundling the fallback copy of the shared package "${module.key}" of remote "${config.name}" failed:\n${detail}\n` +
        `Install it so the build can bundle it, or set shared["${module.key}"].import = false if hosts always provide it.`,
      { remote: config.name, package: module.key, file: config.configFile, cause },
    );
  }
}

/** A fallback bundled ahead for the request set `[key]`: its bytes, or the BuildError that bundling it threw. */
export type SpeculativeFallback = { ok: true; code: Uint8Array | undefined } | { ok: false; error: unknown };

/**
 * Starts bundling, for each key of `shared` that is a package or deep import (not a `pkg/` prefix) and brings a
 * copy, the fallback that serves that key alone. Run beside the expose bundles; the promises never reject.
 *
 * @example
 * ```ts
 * const ahead = startSharedFallbacks(config);
 * const { bundles } = await bundleExposes(config);
 * const shared = await bundleSharedFallbacks(config, bundles, ahead);
 * ```
 */
export function startSharedFallbacks(
  config: ResolvedConfig,
  options: FallbackOptions = {},
): Map<string, Promise<SpeculativeFallback>> {
  const started = new Map<string, Promise<SpeculativeFallback>>();
  for (const [key, shared] of Object.entries(config.shared)) {
    if (key.endsWith('/') || !shared.import) continue;
    started.set(
      key,
      bundleFallback(config, { key, options: shared, requests: [key] }, options.cache ?? true).then(
        (code): SpeculativeFallback => ({ ok: true, code }),
        (error: unknown): SpeculativeFallback => ({ ok: false, error }),
      ),
    );
  }
  return started;
}

/**
 * The shared modules of a build, each with its fallback bundle unless its options say `import: false`. A fallback
 * from {@link startSharedFallbacks} is used when the key's requests are exactly `[key]`, the same bundle this would
 * make; otherwise the key is bundled again for its real requests and the early result is discarded.
 *
 * @example
 * ```ts
 * const shared = await bundleSharedFallbacks(config, bundles);
 * shared[0]; // { key: 'jsonwebtoken', requests: ['jsonwebtoken'], fallback: { file: 'shared-jsonwebtoken.1a2b3c4d5e.js', … } }
 * ```
 */
export async function bundleSharedFallbacks(
  config: ResolvedConfig,
  bundles: readonly ExposeBundle[],
  ahead: ReadonlyMap<string, Promise<SpeculativeFallback>> = new Map(),
  options: FallbackOptions = {},
): Promise<SharedModule[]> {
  const modules = sharedModules(config, bundles);
  try {
    await Promise.all(
      modules.map(async (module) => {
        if (!module.options.import) return;
        const early =
          module.requests.length === 1 && module.requests[0] === module.key ? ahead.get(module.key) : undefined;
        let code: Uint8Array | undefined;
        if (early === undefined) {
          code = await bundleFallback(config, module, options.cache ?? true);
        } else {
          // The same esbuild call as bundleFallback(config, module, …) would make: its failure is this key's failure.
          const result = await early;
          if (!result.ok) throw result.error;
          code = result.code;
        }
        if (code !== undefined) module.fallback = { file: fallbackName(module.key, code), code };
      }),
    );
  } finally {
    // Discarded early bundles still finish before the build returns, so no esbuild work outlives it.
    await Promise.all(ahead.values());
  }
  return modules;
}
