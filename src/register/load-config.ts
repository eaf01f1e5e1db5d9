/**
 * Finds and imports the host config for `ferry/register`: the file named by `FERRY_CONFIG`, or the first
 * `ferry.config.{ts,mts,mjs,js}` in the working folder. TypeScript configs are imported with Node's own type
 * stripping (the runtime never loads build tooling), so they must use erasable syntax only.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigNotFoundError, InvalidOptionError } from '../common/errors.ts';
import type { HostConfig } from './define-host.ts';

export const HOST_CONFIG_FILES = ['ferry.config.ts', 'ferry.config.mts', 'ferry.config.mjs', 'ferry.config.js'];

/** Loads the host config; `host` export first (a service can be a remote and a host), then the default export. */
export async function loadHostConfig(
  cwd = process.cwd(),
  env = process.env,
): Promise<{ file: string; config: HostConfig }> {
  const file = env.FERRY_CONFIG
    ? resolve(cwd, env.FERRY_CONFIG)
    : HOST_CONFIG_FILES.map((name) => resolve(cwd, name)).find((path) => existsSync(path));
  if (!file || !existsSync(file)) {
    throw new ConfigNotFoundError(
      env.FERRY_CONFIG
        ? `ferry/register: FERRY_CONFIG names ${file}, which does not exist.`
        : `ferry/register: no host config in ${cwd} (looked for ${HOST_CONFIG_FILES.join(', ')}). Create one ` +
            'with `export const host = defineHost({ name, remotes })`, or set FERRY_CONFIG to its path.',
      { file: file ?? cwd },
    );
  }
  let module: { host?: unknown; default?: unknown };
  try {
    module = await import(pathToFileURL(file).href);
  } catch (cause) {
    throw new ConfigNotFoundError(
      `ferry/register: could not load ${file}: ${(cause as Error).message}. A TypeScript config is loaded with ` +
        "Node's type stripping: use erasable syntax only, and note that `import` syntax in a .ts file fails in a " +
        'package whose package.json says "type": "commonjs" (rename it to ferry.config.mts).',
      { file, cause },
    );
  }
  let config = module.host ?? module.default;
  if (typeof config === 'function') config = await (config as () => unknown)();
  if (typeof config !== 'object' || config === null || !('remotes' in config)) {
    throw new InvalidOptionError(
      `ferry/register: ${file} exports no host config. Export \`host\` (or a default export) made with ` +
        'defineHost({ name, remotes }).',
      { file, option: 'host' },
    );
  }
  return { file, config: config as HostConfig };
}
