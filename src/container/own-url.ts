/**
 * Where the container was loaded from, so that it fetches its files relative to its own URL — never through the
 * loader's `require`, which Module Federation's Node loader resolves from the host's working directory, not from the
 * remote.
 *
 * Module Federation's runtime records every remote it loaded in `globalThis.__FEDERATION__.__INSTANCES__`: each
 * instance's `moduleCache` maps a remote's name to a `Module` whose `remoteEntryExports` is the container object and
 * whose `remoteInfo.entry` is the URL the entry was loaded from (runtime-core `Module.getEntry` sets both before it
 * calls `init`; with an `mf-manifest.json` URL, `entry` is the remoteEntry URL resolved from the manifest). A
 * container loaded with plain `require()` has an absolute `__filename` instead.
 */
import { ContainerError } from '../common/errors.ts';
import { builtin } from './builtins.ts';
import type { ContainerScope } from './types.ts';

interface FederationModule {
  remoteEntryExports?: unknown;
  remoteInfo?: { entry?: unknown };
}

/** The `entry` URL MF's runtime recorded for `container`, if an MF instance loaded it. */
function fromFederation(container: object): string | undefined {
  const federation = (globalThis as { __FEDERATION__?: { __INSTANCES__?: unknown } }).__FEDERATION__;
  const instances = federation?.__INSTANCES__;
  if (!Array.isArray(instances)) return undefined;
  for (const instance of instances) {
    const cache = (instance as { moduleCache?: unknown } | null)?.moduleCache;
    if (!(cache instanceof Map)) continue;
    for (const module of cache.values() as IterableIterator<FederationModule | undefined>) {
      const entry = module?.remoteInfo?.entry;
      if (module?.remoteEntryExports === container && typeof entry === 'string' && entry !== '') return entry;
    }
  }
  return undefined;
}

/**
 * The URL of the container's own file (`http://…/remoteEntry.js`, or a `file:` URL). Throws a ContainerError that
 * says how to load it when neither MF's runtime nor `__filename` tells.
 */
export function ownUrl(container: object, scope: ContainerScope, name: string): URL {
  const entry = fromFederation(container);
  if (entry !== undefined) {
    try {
      return new URL(entry);
    } catch {
      // A relative entry (a browser-style host): fall through to the error below, which says what to do.
    }
  }
  const { filename } = scope;
  if (typeof filename === 'string' && (filename.startsWith('/') || /^[A-Za-z]:[\\/]/.test(filename))) {
    const { pathToFileURL } = builtin('node:url');
    return pathToFileURL(filename);
  }
  throw new ContainerError(
    `The container of ferry remote "${name}" cannot tell the URL it was loaded from, so it cannot fetch its modules ` +
      `(${entry === undefined ? 'no Module Federation instance in globalThis.__FEDERATION__ lists it' : `its entry ${JSON.stringify(entry)} is not an absolute URL`}, ` +
      `and __filename is ${JSON.stringify(filename)}). Load it with @module-federation/runtime (createInstance + loadRemote, ` +
      'by its absolute remoteEntry.js or mf-manifest.json URL), a bundler host using that runtime, or require() it from ' +
      'its build folder.',
    { remote: name },
  );
}
