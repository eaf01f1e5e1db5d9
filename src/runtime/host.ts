/**
 * The host: loads modules of remotes by `remote/expose` specifier. For each remote it fetches and accepts the manifest
 * (trusted-manifest.ts: signature over the raw bytes when a key is pinned, right remote, not expired, not rolled
 * back), and then loads exposes through a {@link RemoteVersion}. A failed load is not remembered:
 * the next import tries again, so a remote that was down at start-up is picked up when it comes back.
 */
import {
  errorClasses,
  FerryError,
  HostClosedError,
  InvalidSpecifierError,
  UnknownRemoteError,
} from '../common/errors.ts';
import { channels } from './channels.ts';
import { provideHostPackages } from './host-shared.ts';
import { type HostOptions, type ResolvedRemote, resolveHostOptions } from './options.ts';
import { ReleaseStore } from './release-store.ts';
import { RemoteVersion } from './remote-version.ts';
import { createShareScope, type ShareScope } from './share-scope.ts';
import { fetchTrustedManifest } from './trusted-manifest.ts';

/**
 * The types of remote modules by specifier, empty until `ferry types` fills it by declaration merging (its generated
 * `index.d.ts` augments this interface), after which {@link Host.import} returns the module's own type for each listed
 * specifier, with no cast.
 *
 * @example
 * ```ts
 * // ferry-types/index.d.ts (written by `ferry types`)
 * declare module 'ferry' {
 *   interface RemoteModules {
 *     'authService/tokenValidator': typeof import('authService/tokenValidator');
 *   }
 * }
 * ```
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled by declaration merging, which a type alias cannot take.
export interface RemoteModules {}

/** A running host. */
export interface Host {
  /** The host's name. */
  readonly name: string;
  /**
   * Loads a remote module and resolves to its exports.
   *
   * @example
   * ```ts
   * const { validateJwtToken } = await host.import('authService/tokenValidator');
   * ```
   *
   * A specifier listed in {@link RemoteModules} (by `ferry types`) resolves to that module's type; any other
   * specifier to `T`.
   */
  import<K extends keyof RemoteModules>(specifier: K): Promise<RemoteModules[K]>;
  import<T = Record<string, unknown>>(specifier: string): Promise<T>;
  /** The Module Federation share scope (`default`) the host initialises containers with. */
  readonly shareScope: ShareScope;
  /** The expose keys (`./tokenValidator`) of a remote's current version, loading (and verifying) its manifest if needed. */
  exposes(remote: string): Promise<string[]>;
  /** The version of a remote currently loaded, if any. */
  loadedVersion(remote: string): string | undefined;
  /** Releases what the host holds; later imports reject with {@link HostClosedError}. */
  close(): Promise<void>;
}

const SPECIFIER = /^([A-Za-z_$][A-Za-z0-9_$]*)(?:\/(.+))?$/;

/**
 * Creates a host.
 *
 * @example
 * ```ts
 * const host = createHost({
 *   name: 'userService',
 *   remotes: { authService: 'authService@http://127.0.0.1:3001/mf-manifest.json' },
 *   shared: { jsonwebtoken: { singleton: true, requiredVersion: '^9.0.0' } },
 * });
 * const { validateJwtToken } = await host.import('authService/tokenValidator');
 * ```
 */
export function createHost(options: HostOptions): Host {
  const resolved = resolveHostOptions(options);
  const scope = createShareScope();
  const warned = new Set<string>();
  const warn = (code: string, message: string, remote?: string) => {
    if (warned.has(message)) return;
    warned.add(message);
    channels.warning.publish({ host: resolved.name, remote, code, message });
    resolved.onWarning({ code, message, ...(remote === undefined ? {} : { remote }) });
  };
  for (const message of provideHostPackages(scope, resolved)) warn('FERRY_SHARED_NOT_INSTALLED', message);
  // Read once, now: the highest releases accepted before this host started (rollback protection across restarts).
  const releases = ReleaseStore.open(resolved.cacheDir, (code, message) => warn(code, message));

  const versions = new Map<string, Promise<RemoteVersion>>();
  let closed = false;

  async function loadVersion(remote: ResolvedRemote): Promise<RemoteVersion> {
    const { manifest, signedBy } = await fetchTrustedManifest(remote, { host: resolved, releases, warn });
    channels.manifest.publish({
      host: resolved.name,
      remote: remote.alias,
      url: remote.manifestUrl,
      version: manifest.ferry.version,
      release: manifest.ferry.release,
      signed: signedBy !== undefined,
    });
    return new RemoteVersion(manifest, {
      host: resolved,
      remote,
      scope,
      warn: (code, message) => warn(code, message, remote.alias),
    });
  }

  function versionOf(remote: ResolvedRemote): Promise<RemoteVersion> {
    let pending = versions.get(remote.alias);
    if (!pending) {
      pending = loadVersion(remote);
      versions.set(remote.alias, pending);
      pending.catch(() => {
        if (versions.get(remote.alias) === pending) versions.delete(remote.alias);
      });
    }
    return pending;
  }

  const loaded = new Map<string, RemoteVersion>();

  async function importModule<T>(specifier: string): Promise<T> {
    if (closed) {
      throw new HostClosedError(`Host "${resolved.name}" is closed; cannot import "${specifier}".`, {
        expose: specifier,
      });
    }
    const match = typeof specifier === 'string' ? SPECIFIER.exec(specifier) : null;
    if (!match) {
      throw new InvalidSpecifierError(
        `"${String(specifier)}" is not a remote module specifier; use "<remote>/<expose>", e.g. "authService/tokenValidator".`,
        { expose: String(specifier) },
      );
    }
    const [, alias, path] = match as unknown as [string, string, string | undefined];
    const remote = resolved.remotes.get(alias);
    if (!remote) {
      throw new UnknownRemoteError(
        `Host "${resolved.name}" has no remote named "${alias}" (importing "${specifier}"). Configured remotes: ` +
          `${[...resolved.remotes.keys()].join(', ') || 'none'}. Add it to \`remotes\` in createHost().`,
        { remote: alias, expose: specifier },
      );
    }
    const exposeKey = path === undefined ? '.' : `./${path}`;
    const started = performance.now();
    const message = { host: resolved.name, remote: alias, expose: exposeKey };
    channels.importStart.publish(message);
    try {
      const version = await versionOf(remote);
      loaded.set(alias, version);
      const exports = (await version.import(exposeKey)) as T;
      channels.importEnd.publish({ ...message, version: version.version, durationMs: performance.now() - started });
      return exports;
    } catch (error) {
      const named = nameTheImport(error, specifier, remote);
      channels.importError.publish({ ...message, error: named, durationMs: performance.now() - started });
      throw named;
    }
  }

  return {
    name: resolved.name,
    shareScope: scope,
    import: importModule,
    loadedVersion: (alias) => loaded.get(alias)?.version,
    async exposes(alias) {
      const remote = resolved.remotes.get(alias);
      if (!remote) {
        throw new UnknownRemoteError(
          `Host "${resolved.name}" has no remote named "${alias}". Configured remotes: ` +
            `${[...resolved.remotes.keys()].join(', ') || 'none'}.`,
          { remote: alias },
        );
      }
      const version = await versionOf(remote);
      return Object.keys(version.manifest.ferry.exposes);
    },
    async close() {
      closed = true;
      for (const version of loaded.values()) version.dispose();
      loaded.clear();
      versions.clear();
    },
  };
}

/**
 * Errors shared by concurrent imports (a manifest that failed to load) do not know which import they failed; the
 * caller gets an error of the same class and code that names its specifier, with the original as `cause`.
 */
function nameTheImport(error: unknown, specifier: string, remote: ResolvedRemote): unknown {
  if (!(error instanceof FerryError) || error.expose !== undefined) return error;
  const ErrorClass = errorClasses[error.code] as (typeof errorClasses)[keyof typeof errorClasses] | undefined;
  // A code this copy of ferry does not know (another copy's error): pass it on untouched.
  if (ErrorClass === undefined) return error;
  // Every detail the original carries (including class-specific ones such as a RollbackError's releases) is kept.
  const details: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(error)) if (key !== 'code' && key !== 'name') details[key] = value;
  return new ErrorClass(`${error.message} (while importing "${specifier}")`, {
    ...details,
    remote: error.remote ?? remote.alias,
    url: error.url ?? remote.manifestUrl,
    expose: specifier,
    cause: error,
  });
}
