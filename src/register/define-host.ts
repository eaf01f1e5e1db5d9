/**
 * The typed helper for a host's `ferry.config.ts`, read by `node --import ferry/register`. Imports types only, so
 * loading it costs nothing.
 */
import type { HostOptions } from '../runtime/index.ts';

/** A host config: {@link HostOptions} plus what to do when a remote cannot be loaded at start-up. */
export interface HostConfig extends HostOptions {
  /**
   * `'exit'` (default): print one message naming the remote, URL and cause, and exit with code 1 before the app's
   * first line runs. `'defer'`: start the app and keep loading the remote in the background (the runtime's backoff);
   * until it has loaded, a `require`/`import()` of its modules throws the last load error, and from then on returns
   * the module (a static `import` of it runs at start-up and therefore fails the app).
   */
  onStartupFailure?: 'exit' | 'defer';
}

/**
 * Types a host config. Export it as `host` (or as the default export) from `ferry.config.ts`.
 *
 * @example
 * ```ts
 * import { defineHost } from 'ferry';
 * export const host = defineHost({
 *   name: 'userService',
 *   remotes: { authService: 'authService@http://127.0.0.1:3001/mf-manifest.json' },
 *   shared: { jsonwebtoken: { singleton: true } },
 * });
 * ```
 */
export function defineHost(config: HostConfig): HostConfig {
  return config;
}
