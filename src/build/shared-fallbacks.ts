/**
 * The remote's own copies of its shared packages (Module Federation's "fallback"): one esbuild bundle per shared
 * module (CommonJS, platform node, self-contained but for Node builtins), written beside the exposes under a content
 * hash and listed in the manifest. A host fetches and verifies a fallback only when the share scope chooses that copy.
 *
 * A fallback exports one lazy getter per request the exposes make (`{ lodash: () => require('lodash'),
 * 'lodash/fp': () => … }`), so deep imports of a package come from the same copy as the package.
 */
import { createHash } from 'node:crypto';
import { build, formatMessages, type Message } from 'esbuild';
import { BuildError } from '../common/errors.ts';
import type { ExposeBundle } from './bundle.ts';
import type { ResolvedConfig } from './config.ts';
import { type ResolvedShared, sharedKeyOf } from './shared.ts';

/** One shared module as the manifest lists it: a key of `shared`, or a deep import a `pkg/` key covers. */
export interface SharedModule {
  /** The share key (`jsonwebtoken`, or `lodash/fp` under a `lodash/` key). */
  key: string;
  /** The options it was declared with (for a deep import, those of its `pkg/` key). */
  options: ResolvedShared;
  /** The requests its fallback serves (`jsonwebtoken`, `jsonwebtoken/decode`). */
  requests: string[];
  /** The fallback file (`shared-jsonwebtoken.<hash>.js`) and its bytes; absent with `import: false`. */
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

async function bundleFallback(config: ResolvedConfig, module: SharedModule): Promise<Uint8Array> {
  const getters = module.requests.map(
    (request) => `  ${JSON.stringify(request)}: () => require(${JSON.stringify(request)}),`,
  );
  try {
    const result = await build({
      stdin: {
        contents: `// ${module.key}@${module.options.version}: the fallback copy of remote ${config.name}.\nmodule.exports = {\n${getters.join('\n')}\n};\n`,
        resolveDir: config.root,
        sourcefile: `ferry-shared-${module.key}.js`,
        loader: 'js',
      },
      absWorkingDir: config.root,
      bundle: true,
      write: false,
      format: 'cjs',
      platform: 'node',
      target: 'node22',
      logLevel: 'silent',
    });
    return result.outputFiles[0]!.contents;
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

/**
 * The shared modules of a build, each with its fallback bundle unless its options say `import: false`.
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
): Promise<SharedModule[]> {
  const modules = sharedModules(config, bundles);
  await Promise.all(
    modules.map(async (module) => {
      if (!module.options.import) return;
      const code = await bundleFallback(config, module);
      module.fallback = { file: fallbackName(module.key, code), code };
    }),
  );
  return modules;
}
