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
  InvalidOptionError,
  InvalidSpecifierError,
  UnknownRemoteError,
} from '../common/errors.ts';
import { availabilityOf, type RemoteStatus } from './availability.ts';
import { channels, type UpdateMessage } from './channels.ts';
import { importFallback } from './fallback.ts';
import { createLiveBinding } from './live-binding.ts';
import { checkVersionRange, LiveUpdates, type UpdateOutcome } from './live-updates.ts';
import { type HostOptions, type RemoteOptions, type ResolvedRemote, resolveHostOptions } from './options.ts';
import { ReleaseStore } from './release-store.ts';
import { RemoteVersion } from './remote-version.ts';
import type { ShareScope } from './share-scope.ts';
import { containerScopeOf, createSharing, type SharedReport } from './sharing.ts';
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
  /**
   * What is shared, per share scope and module: the versions provided and by whom, the ones chosen, who uses each
   * and why (see the README's "Shared packages").
   *
   * @example
   * ```ts
   * host.shared().default?.jsonwebtoken?.uses; // [{ consumer: 'remote "authService" (./tokenValidator)', version: '9.0.3', from: 'userService', … }]
   * ```
   */
  shared(): SharedReport;
  /** The expose keys (`./tokenValidator`) of a remote's current version, loading (and verifying) its manifest if needed. */
  exposes(remote: string): Promise<string[]>;
  /** The version of a remote currently loaded, if any. */
  loadedVersion(remote: string): string | undefined;
  /**
   * Each remote's availability: where its current copy came from (`network` or `cache`, with its age), its circuit
   * breaker's state and its last failure.
   *
   * @example
   * ```ts
   * host.remotes().authService; // { url, source: 'cache', staleForMs: 5400000, breaker: { state: 'open', failures: 5, retryAt } }
   * ```
   */
  remotes(): Record<string, RemoteStatus>;
  /**
   * A live binding to a remote module: its properties always come from the remote's current version, and its
   * functions are stable forwarders that call the current version's function, so a long-lived reference (an express
   * middleware) picks up new versions without a restart. A call finishes on the version it started on.
   *
   * @example
   * ```ts
   * const validator = await host.live('authService/tokenValidator');
   * app.use(async (req, res, next) => ((await validator.validateJwtToken(token)).isValid ? next() : res.sendStatus(403)));
   * ```
   */
  live<K extends keyof RemoteModules>(specifier: K): Promise<RemoteModules[K]>;
  live<T = Record<string, unknown>>(specifier: string): Promise<T>;
  /**
   * Checks one remote (or every loaded remote) for a new version now, and activates it if it passes every check
   * (verify, version range, shared singletons, initialisation, health check). Resolves with what each check found.
   *
   * @example
   * ```ts
   * const [outcome] = await host.update('authService'); // { remote: 'authService', status: 'activated', version: '1.1.0', previous: '1.0.0' }
   * ```
   */
  update(remote?: string): Promise<UpdateOutcome[]>;
  /** Listens to live-update events (`check`, `found`, `activated`, `refused`, `disposed`); returns an unsubscribe function. */
  on(type: UpdateMessage['type'], listener: (event: UpdateMessage) => void): () => void;
  /** Adds a remote to the running host; resolves once its manifest is verified and its container initialised. */
  addRemote(alias: string, options: RemoteOptions | string): Promise<void>;
  /** Removes a remote: later imports of it fail with UnknownRemoteError; its version is disposed after draining. */
  removeRemote(alias: string): Promise<void>;
  /**
   * Points a remote at another URL (a new deployment, a canary). The version there goes through the same
   * verify-then-swap path as an update; if it is refused, the remote keeps its old URL and version and this rejects.
   */
  pointRemote(alias: string, options: RemoteOptions | string): Promise<UpdateOutcome>;
  /** Releases what the host holds; later imports reject with {@link HostClosedError}. */
  close(): Promise<void>;
  /** {@link close}, for `await using host = createHost(…)`. */
  [Symbol.asyncDispose](): Promise<void>;
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
  const availability = availabilityOf(resolved);
  // One warning path for the whole host (once per message, on `ferry:warning` and to `onWarning`).
  const warn = (code: string, message: string, remote?: string) => availability.warn(code, message, remote);
  const sharing = createSharing(resolved, warn, () =>
    Promise.allSettled([...resolved.remotes.values()].map((remote) => versionOf(remote))),
  );
  const scope = sharing.scope('default');
  // Read once, now: the highest releases accepted before this host started (rollback protection across restarts).
  const releases = ReleaseStore.open(resolved.cacheDir, warn);

  const versions = new Map<string, Promise<RemoteVersion>>();
  const loaded = new Map<string, RemoteVersion>();
  const fetchManifest = (remote: ResolvedRemote) =>
    fetchTrustedManifest(remote, { host: resolved, releases, warn }).then((trusted) => {
      const { manifest, signedBy } = trusted;
      channels.manifest.publish({
        host: resolved.name,
        remote: remote.alias,
        url: remote.manifestUrl,
        version: manifest.ferry.version,
        release: manifest.ferry.release,
        signed: signedBy !== undefined,
      });
      return trusted;
    });
  const updates: LiveUpdates = new LiveUpdates({
    host: resolved,
    versions,
    loaded,
    fetchManifest,
    createVersion,
    scopeOf: (name) => sharing.scope(name),
  });
  // A remote served from the cache came back with a new manifest: it goes through the same verify-then-swap path,
  // and imports wait for that one check, so the next import gets the remote's version (as before live updates).
  const refreshing = new Map<string, Promise<unknown>>();
  availability.onChanged((alias) => {
    const check = updates.check(alias, 'cache').finally(() => {
      if (refreshing.get(alias) === check) refreshing.delete(alias);
    });
    refreshing.set(alias, check);
  });
  let closed = false;

  function createVersion(
    remote: ResolvedRemote,
    { manifest }: { manifest: RemoteVersion['manifest'] },
    ready?: Promise<void>,
  ): RemoteVersion {
    const version = new RemoteVersion(manifest, {
      host: resolved,
      remote,
      scope: sharing.scope(containerScopeOf(manifest)),
      sharing,
      warn: (code, message) => warn(code, message, remote.alias),
      ...(ready ? { ready } : {}),
    });
    // Its fallback copies join the share scopes now, before anything is resolved (MF: init of the container).
    sharing.register(version, manifest);
    return version;
  }

  const closedError = (what: string) =>
    new HostClosedError(`Host "${resolved.name}" is closed; cannot import "${what}".`, { expose: what });

  async function loadVersion(remote: ResolvedRemote): Promise<RemoteVersion> {
    const trusted = await fetchManifest(remote);
    // close() ran while the manifest was on its way: nothing of this remote may be created after it.
    if (closed) throw closedError(remote.alias);
    checkVersionRange(remote, trusted.manifest);
    // The version is current from here: its release and cache record are written while its files are fetched, and
    // it runs no code before both are on disk (a host restarted a moment later starts from it).
    const version = createVersion(remote, trusted, availability.track(trusted.commit()));
    updates.integrity.set(version, trusted.integrity);
    loaded.set(remote.alias, version);
    updates.watch(remote);
    return version;
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

  // Dynamic remotes change the resolved maps in place, so every part of the host sees the same remotes.
  const remotesMap = resolved.remotes as Map<string, ResolvedRemote>;
  const originsSet = resolved.origins as Set<string>;
  /** A remote added or re-pointed at run time, validated exactly as createHost validates its remotes. */
  const resolveOne = (alias: string, raw: RemoteOptions | string): ResolvedRemote =>
    resolveHostOptions({ ...options, remotes: { [alias]: raw } }).remotes.get(alias)!;
  const requireRemote = (alias: string): ResolvedRemote => {
    const remote = resolved.remotes.get(alias);
    if (!remote) {
      throw new UnknownRemoteError(
        `Host "${resolved.name}" has no remote named "${alias}". Configured remotes: ` +
          `${[...resolved.remotes.keys()].join(', ') || 'none'}.`,
        { remote: alias },
      );
    }
    return remote;
  };

  const bindings = new Map<string, unknown>();

  async function importModule<T>(specifier: string): Promise<T> {
    if (closed) throw closedError(specifier);
    const { alias, exposeKey } = parseSpecifier(specifier);
    const remote = resolved.remotes.get(alias);
    if (!remote) {
      throw new UnknownRemoteError(
        `Host "${resolved.name}" has no remote named "${alias}" (importing "${specifier}"). Configured remotes: ` +
          `${[...resolved.remotes.keys()].join(', ') || 'none'}. Add it to \`remotes\` in createHost().`,
        { remote: alias, expose: specifier },
      );
    }
    const started = performance.now();
    const message = { host: resolved.name, remote: alias, expose: exposeKey };
    channels.importStart.publish(message);
    try {
      await refreshing.get(alias)?.catch(() => {});
      // The import's deadline bounds every request, retry and wait below it.
      const { version, exports } = await availability.withDeadline(
        started + remote.availability.importTimeout,
        async () => {
          let current = await versionOf(remote);
          if (closed) throw closedError(specifier);
          // Swapped out (and disposed) while this import waited: the current version answers instead.
          if (current.disposed) current = await versionOf(resolved.remotes.get(alias) ?? remote);
          return { version: current, exports: (await current.import(exposeKey)) as T };
        },
      );
      channels.importEnd.publish({ ...message, version: version.version, durationMs: performance.now() - started });
      return exports;
    } catch (error) {
      const named = nameTheImport(error, specifier, remote);
      const local = await importFallback(availability, remote, exposeKey, named);
      if (local !== undefined) return local.exports as T;
      channels.importError.publish({ ...message, error: named, durationMs: performance.now() - started });
      throw named;
    }
  }

  return {
    name: resolved.name,
    shareScope: scope,
    shared: () => sharing.report(),
    import: importModule,
    remotes: () => availability.inspect(),
    loadedVersion: (alias) => loaded.get(alias)?.version,
    async exposes(alias) {
      const version = await versionOf(requireRemote(alias));
      return Object.keys(version.manifest.ferry.exposes);
    },
    async live<T>(specifier: string): Promise<T> {
      await importModule(specifier);
      // One binding per specifier: `host.live(x).fn === host.live(x).fn`, as for a module.
      const known = bindings.get(specifier);
      if (known) return known as T;
      const { alias, exposeKey } = parseSpecifier(specifier);
      let last = loaded.get(alias)!;
      const binding = createLiveBinding<T>(() => {
        const version = loaded.get(alias);
        // The current version loaded every expose in use before it became current; one imported later only on
        // the old version loads in the background meanwhile, and calls stay on the last version that has it.
        if (version && version !== last) {
          if (version.loadedExports(exposeKey) !== undefined) last = version;
          else version.import(exposeKey).catch(() => {});
        }
        const target = last;
        return { exports: target.loadedExports(exposeKey)?.value, enter: () => updates.enter(target) };
      });
      bindings.set(specifier, binding);
      return binding;
    },
    on: (type, listener) => updates.on(type, listener),
    async update(alias) {
      if (alias !== undefined) requireRemote(alias);
      const aliases = alias === undefined ? [...resolved.remotes.keys()] : [alias];
      return Promise.all(aliases.map((name) => updates.check(name, 'manual')));
    },
    async addRemote(alias, raw) {
      if (resolved.remotes.has(alias)) {
        throw new InvalidOptionError(
          `Host "${resolved.name}" already has a remote named "${alias}"; use pointRemote() to change its URL.`,
          { remote: alias, option: `remotes.${alias}` },
        );
      }
      const remote = resolveOne(alias, raw);
      remotesMap.set(alias, remote);
      originsSet.add(new URL(remote.manifestUrl).origin);
      try {
        const version = await versionOf(remote);
        await version.initialise();
      } catch (error) {
        remotesMap.delete(alias);
        const pending = versions.get(alias);
        versions.delete(alias);
        updates.unwatch(alias);
        loaded.delete(alias);
        void pending?.then((version) => version.dispose()).catch(() => {});
        throw error;
      }
      const version = loaded.get(alias)!;
      updates.emit({ type: 'activated', remote: alias, version: version.version, trigger: 'add' });
    },
    async removeRemote(alias) {
      requireRemote(alias);
      remotesMap.delete(alias);
      updates.unwatch(alias);
      const pending = versions.get(alias);
      versions.delete(alias);
      loaded.delete(alias);
      const version = await pending?.catch(() => undefined);
      if (version) await updates.retire(version);
    },
    async pointRemote(alias, raw) {
      const previous = requireRemote(alias);
      const remote = resolveOne(alias, raw);
      originsSet.add(new URL(remote.manifestUrl).origin);
      if (!versions.has(alias)) {
        remotesMap.set(alias, remote);
        return { remote: alias, status: 'not-loaded' };
      }
      const outcome = await updates.check(alias, 'point', undefined, remote);
      if (outcome.status === 'activated' || outcome.status === 'unchanged') {
        remotesMap.set(alias, remote);
        updates.unwatch(alias);
        updates.watch(remote);
        return outcome;
      }
      remotesMap.set(alias, previous);
      throw outcome.error ?? new UnknownRemoteError(`Remote "${alias}" could not be pointed at ${remote.manifestUrl}.`);
    },
    async close() {
      closed = true;
      availability.close();
      updates.close();
      for (const version of loaded.values()) version.dispose();
      loaded.clear();
      versions.clear();
      // Files fetched beside one that failed may still be on their way into the cache: nothing is written after this.
      await availability.idle();
    },
    [Symbol.asyncDispose]() {
      return this.close();
    },
  };
}

/** `authService/tokenValidator` -> the remote's alias and the expose key (`./tokenValidator`; `.` without a path). */
function parseSpecifier(specifier: string): { alias: string; exposeKey: string } {
  const match = typeof specifier === 'string' ? SPECIFIER.exec(specifier) : null;
  if (!match) {
    throw new InvalidSpecifierError(
      `"${String(specifier)}" is not a remote module specifier; use "<remote>/<expose>", e.g. "authService/tokenValidator".`,
      { expose: String(specifier) },
    );
  }
  const [, alias, path] = match as unknown as [string, string, string | undefined];
  return { alias, exposeKey: path === undefined ? '.' : `./${path}` };
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
