/**
 * Finds and imports the host config for `ferry/register` and `ferry types`: the file named by `FERRY_CONFIG`, or the
 * first `ferry.config.{ts,mts,mjs,js}` in the working folder. TypeScript configs are imported with Node's own type
 * stripping (the runtime never loads build tooling), so they must use erasable syntax only.
 *
 * A `.ts` config, and the `.ts` files it imports outside node_modules, are loaded as ES modules whatever the
 * package's `"type"`, as `ferry build` loads a remote's config: in a package that says `"type": "commonjs"` (what
 * `npm init -y` writes) Node would otherwise read `import` in a `.ts` file as CommonJS and fail. A load hook
 * (`module.registerHooks`) does this while the config is imported, and is removed afterwards.
 */
import { existsSync } from 'node:fs';
import { registerHooks } from 'node:module';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigLoadError, ConfigNotFoundError, InvalidOptionError } from '../common/errors.ts';
import type { HostConfig } from './define-host.ts';

export const HOST_CONFIG_FILES = ['ferry.config.ts', 'ferry.config.mts', 'ferry.config.mjs', 'ferry.config.js'];

/** Imports `url`; `.ts` files reached from it (outside node_modules) load as ES modules while it is imported. */
async function importAsModule(url: string): Promise<Record<string, unknown>> {
  const esm = new Set<string>([url]);
  const isOwnTypeScript = (target: string) =>
    target.startsWith('file:') && /\.ts$/.test(new URL(target).pathname) && !target.includes('/node_modules/');
  const hooks = registerHooks({
    resolve(specifier, context, nextResolve) {
      const resolved = nextResolve(specifier, context);
      if (context.parentURL !== undefined && esm.has(context.parentURL) && isOwnTypeScript(resolved.url)) {
        esm.add(resolved.url);
      }
      return resolved;
    },
    load(target, context, nextLoad) {
      return esm.has(target)
        ? nextLoad(target, { ...context, format: 'module-typescript' })
        : nextLoad(target, context);
    },
  });
  try {
    return await import(url);
  } finally {
    hooks.deregister();
  }
}

/**
 * Loads the host config; `host` export first (a service can be a remote and a host), then the default export.
 * Throws {@link ConfigNotFoundError} when there is no config file and {@link ConfigLoadError} when it cannot be
 * loaded.
 *
 * @example
 * ```ts
 * const { file, config } = await loadHostConfig(process.cwd(), process.env);
 * ```
 */
export async function loadHostConfig(
  cwd = process.cwd(),
  env = process.env,
  { prefix = 'ferry/register: ', alternative }: { prefix?: string; alternative?: string } = {},
): Promise<{ file: string; config: HostConfig }> {
  const file = env.FERRY_CONFIG
    ? resolve(cwd, env.FERRY_CONFIG)
    : HOST_CONFIG_FILES.map((name) => resolve(cwd, name)).find((path) => existsSync(path));
  if (!file || !existsSync(file)) {
    throw new ConfigNotFoundError(
      env.FERRY_CONFIG
        ? `${prefix}FERRY_CONFIG names ${file}, which does not exist.`
        : `${prefix}no host config in ${cwd} (looked for ${HOST_CONFIG_FILES.join(', ')}). Create one ` +
            'with `export const host = defineHost({ name, remotes })`, or set FERRY_CONFIG to its path' +
            (alternative === undefined ? '.' : `, ${alternative}.`),
      { file: file ?? cwd },
    );
  }
  let module: { host?: unknown; default?: unknown };
  try {
    const url = pathToFileURL(file).href;
    module = file.endsWith('.ts') ? await importAsModule(url) : await import(url);
  } catch (cause) {
    throw new ConfigLoadError(
      `${prefix}could not load ${file}: ${(cause as Error)?.message ?? cause}. Fix the error in the file. A ` +
        "TypeScript config is loaded with Node's type stripping: use erasable syntax only (no enums, namespaces " +
        'or parameter properties).',
      { file, cause },
    );
  }
  let config = module.host ?? module.default;
  if (typeof config === 'function') {
    try {
      config = await (config as () => unknown)();
    } catch (cause) {
      throw new ConfigLoadError(
        `${prefix}the function exported by ${file} threw: ${(cause as Error)?.message ?? cause}`,
        { file, cause },
      );
    }
  }
  if (typeof config !== 'object' || config === null || !('remotes' in config)) {
    throw new InvalidOptionError(
      `${prefix}${file} exports no host config. Export \`host\` (or a default export) made with ` +
        'defineHost({ name, remotes }).',
      { file, option: 'host' },
    );
  }
  return { file, config: config as HostConfig };
}
