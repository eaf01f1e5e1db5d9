/**
 * `createHost()`: the host, and its load pipeline read top to bottom. `host.import('authService/tokenValidator')`:
 *
 * 1. resolve the specifier to a remote's record (specifier.ts, remotes.ts);
 * 2. the remote's current version: its manifest fetched and accepted (trust/trusted-manifest.ts), then a
 *    {@link RemoteVersion} for it — one load per remote at a time, kept once it succeeds, forgotten when it fails so
 *    the next import tries again;
 * 3-5. the version loads the expose: its files (version/version-files.ts), its shared modules (sharing/sharing.ts),
 *    and evaluates it (evaluate/container.ts).
 *
 * Everything runs under the import's deadline (`timeouts.import`). A failed import may be answered by a local
 * fallback (local-fallback.ts). Live updates (live/live-updates.ts) replace a remote's current version.
 */
import { join } from 'node:path';
import { HostClosedError, InvalidOptionError, RemoteCycleError, UnknownRemoteError } from '../common/errors.ts';
import { commonJsNamespace } from '../common/module-namespace.ts';
import { checkCacheFolder } from './cache/cache-folder.ts';
import { HostCache } from './cache/host-cache.ts';
import { StaleIfErrorPolicy } from './cache/stale-if-error.ts';
import {
  channels,
  copySourceOf,
  type ImportTraceContext,
  type ManifestTraceContext,
  tracing,
  type UpdateMessage,
} from './channels.ts';
import { createLiveBinding } from './live/live-binding.ts';
import { LiveUpdates, type UpdateOutcome } from './live/live-updates.ts';
import { importFallback } from './local-fallback.ts';
import { Deadlines } from './net/deadline.ts';
import { Connections } from './net/http-client.ts';
import { createRemoteClient } from './net/remote-client.ts';
import { type HostOptions, resolveAddedRemote, resolveHostOptions } from './options/host-options.ts';
import { dependencyOptions, type RemoteOptions, type ResolvedRemote } from './options/remote-options.ts';
import { type RemoteRecord, RemoteRegistry, type RemoteStatus } from './remotes.ts';
import type { ShareScope } from './sharing/share-scope.ts';
import { containerScopeOf, createSharing, type SharedReport } from './sharing/sharing.ts';
import { nameTheImport, parseSpecifier } from './specifier.ts';
import { CHANNELS_FILE } from './trust/channel.ts';
import type { TrustedManifest } from './trust/manifest-checks.ts';
import { ReleaseStore } from './trust/release-store.ts';
import { fetchTrustedManifest, type ManifestRequest, type TrustContext } from './trust/trusted-manifest.ts';
import { checkVersionRange } from './trust/version-gate.ts';
import { RemoteVersion } from './version/remote-version.ts';
import { createWarn } from './warnings.ts';

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

/**
 * Creates a host.
 *
 * @example
 * ```ts
 * const host = createHost({
 *   name: 'userService',
 *   remotes: { authService: 'authService@http://127.0.0.1:3001/mf-manifest.json' },
 *   shared: { jsonwebtoken: { singleton: true, requiredVersion: '^9.0.0' } },
 *   timeouts: { import: 5000 },
 * });
 * const { validateJwtToken } = await host.import('authService/tokenValidator');
 * ```
 */
export function createHost(options: HostOptions): Host {
  const resolved = resolveHostOptions(options);
  const hostName = resolved.name;
  // One warning path for the whole host (once per message, on `ferry:warning` and to `onWarning`).
  const warn = createWarn(hostName, resolved.onWarning);
  const registry = new RemoteRegistry(hostName, resolved.remotes, resolved.allowedOrigins, (alias, snapshot) =>
    channels.breaker.publish({ host: hostName, remote: alias, ...snapshot }),
  );
  const deadlines = new Deadlines();
  // A load's requests to one remote follow each other within milliseconds: they share connections (http-client.ts).
  const connections = new Connections();
  const client = createRemoteClient({ deadlines, fetch: resolved.fetch, origins: registry.origins, connections });
  const cache = new HostCache({
    dir: resolved.cache.dir,
    hostName,
    pruneInterval: resolved.cache.pruneInterval,
    maxManifestBytes: resolved.maxManifestBytes,
    // Aliases of one remote may keep different numbers of versions: the cache keeps the most any of them wants.
    versionsOf: (name, url) =>
      Math.max(
        0,
        ...registry
          .values()
          .filter(({ options: remote }) => remote.name === name && remote.manifestUrl === url)
          .map(({ options: remote }) => remote.cache.versions),
      ) || resolved.cache.versions,
    warn,
  });
  const stale = new StaleIfErrorPolicy(hostName, warn, deadlines);
  // Read once, now: the highest releases accepted before this host started (rollback protection across restarts).
  checkCacheFolder(resolved.cache.dir, warn);
  const releases = ReleaseStore.open(resolved.cache.dir, warn);
  const sharing = createSharing(resolved, warn, () => Promise.allSettled(registry.values().map(currentVersion)));
  let channelStore: ReleaseStore | undefined;
  const trust: TrustContext = {
    host: hostName,
    maxManifestBytes: resolved.maxManifestBytes,
    client,
    cache,
    stale,
    releases,
    // The sequence of each channel accepted, kept like the releases (a replayed pointer is refused after a restart
    // too); read when a remote first follows a channel.
    get channels() {
      channelStore ??= ReleaseStore.open(resolved.cache.dir, warn, CHANNELS_FILE);
      return channelStore;
    },
    hostId: resolved.hostId,
    now: resolved.now,
    warn,
    // A remote served from the cache came back with a new manifest: it goes through the same verify-then-swap path,
    // and imports wait for that one check, so the next import gets the remote's version.
    onChanged(record) {
      const check = updates.check(record, 'cache').finally(() => {
        if (record.refreshing === check) record.refreshing = undefined;
      });
      record.refreshing = check;
    },
  };
  const updates: LiveUpdates = new LiveUpdates({
    hostName,
    live: resolved.live,
    registry,
    origins: registry.origins,
    fetch: resolved.fetch,
    deadlines,
    fetchManifest,
    createVersion,
    scopeOf: (name) => sharing.scope(name),
  });
  const scope = sharing.scope('default');
  let closed = false;

  /** Stage 2: the remote's manifest, fetched and accepted, announced on `ferry:manifest`. */
  async function fetchManifest(
    record: RemoteRecord,
    remote: ResolvedRemote = record.options,
    request: ManifestRequest = {},
  ) {
    let trace: ManifestTraceContext | undefined;
    if (tracing.manifest.hasSubscribers) trace = { host: hostName, remote: remote.alias, url: remote.manifestUrl };
    const trusted = await (trace
      ? tracing.manifest.tracePromise(async () => {
          const accepted = await fetchTrustedManifest(record, trust, remote, request);
          Object.assign(trace, {
            version: accepted.manifest.ferry.version,
            release: accepted.manifest.ferry.release,
            source: copySourceOf(accepted),
            signed: accepted.signedBy !== undefined,
          });
          return accepted;
        }, trace)
      : fetchTrustedManifest(record, trust, remote, request));
    const { manifest, signedBy } = trusted;
    channels.manifest.publish({
      host: hostName,
      remote: remote.alias,
      url: remote.manifestUrl,
      version: manifest.ferry.version,
      release: manifest.ferry.release,
      signed: signedBy !== undefined,
    });
    return trusted;
  }

  /** A version of an accepted manifest; its fallback copies join the share scopes now (MF: init of the container). */
  function createVersion(
    record: RemoteRecord,
    remote: ResolvedRemote,
    trusted: TrustedManifest,
    commit?: () => Promise<void>,
  ): RemoteVersion {
    const version = new RemoteVersion(trusted, remote, {
      host: hostName,
      state: record,
      client,
      cache,
      deadlines,
      versionsDir: join(resolved.cache.dir, 'versions'),
      importRemote,
      onCall: (version, failed) => updates.observe(record, version, failed),
      scope: sharing.scope(containerScopeOf(trusted.manifest)),
      sharing,
      warn,
      ...(commit ? { commit } : {}),
    });
    sharing.register(version, trusted.manifest);
    return version;
  }

  const closedError = (what: string) =>
    new HostClosedError(`Host "${hostName}" is closed; cannot import "${what}".`, { expose: what });

  async function loadVersion(record: RemoteRecord): Promise<RemoteVersion> {
    const remote = record.options;
    const trusted = await fetchManifest(record);
    // close() ran while the manifest was on its way: nothing of this remote may be created after it.
    if (closed) throw closedError(remote.alias);
    checkVersionRange(remote, trusted.manifest);
    // The version is current from here. Its release and cache record are written once the files of its first use are
    // verified and in the cache, before its code runs: a host restarted a moment later starts from it, and a load
    // whose files never arrive leaves the previous version's record and rollback floor as they were.
    const version = createVersion(record, remote, trusted, () => cache.track(trusted.commit()));
    record.current = version;
    updates.watch(record);
    return version;
  }

  /** The remote's current version, loading it once if needed (a failed load is forgotten). */
  function currentVersion(record: RemoteRecord): Promise<RemoteVersion> {
    let pending = record.pending;
    if (!pending) {
      pending = loadVersion(record);
      record.pending = pending;
      pending.catch(() => {
        if (record.pending === pending) record.pending = undefined;
      });
    }
    return pending;
  }

  /**
   * The record of a remote that `parent` uses (its manifest's `remotes[key]`): the host's own remote of that name when
   * it has one (its configuration wins), else one added now from what the parent's manifest says — under the host's
   * policies (origins, plain http, requireSignatures), so a remote another names is fetched only where the host may.
   */
  function nestedRecord(parent: RemoteVersion, key: string): RemoteRecord {
    const dependency = parent.manifest.ferry.remotes![key]!;
    const known = registry.values().find((record) => record.options.name === dependency.name);
    if (known) return known;
    const alias = registry.has(key) ? dependency.name : key;
    if (registry.has(alias)) {
      throw new InvalidOptionError(
        `Remote "${parent.alias}" uses remote "${dependency.name}" (${dependency.url}) as "${key}", but this host has ` +
          `another remote named "${alias}". Configure "${dependency.name}" on the host under its own name.`,
        { remote: parent.alias, option: `remotes.${alias}` },
      );
    }
    try {
      return registry.add(resolveAddedRemote(resolved, alias, dependencyOptions(dependency)), { allowOrigin: false });
    } catch (error) {
      if (!(error instanceof InvalidOptionError)) throw error;
      throw new InvalidOptionError(
        `Remote "${parent.alias}" (version ${parent.version}) uses remote "${dependency.name}" at ${dependency.url}, ` +
          `which this host cannot load: ${error.message} Configure "${dependency.name}" on the host to decide how.`,
        { remote: parent.alias, option: `remotes.${alias}`, cause: error },
      );
    }
  }

  /** The remotes reachable from `record` through the `remotes` of the versions loaded so far, as chains of names. */
  function cycleThrough(from: RemoteRecord, target: string): string[] | undefined {
    const visit = (record: RemoteRecord, chain: string[]): string[] | undefined => {
      for (const dependency of Object.values(record.current?.manifest.ferry.remotes ?? {})) {
        if (dependency.name === target) return [...chain, target];
        if (chain.includes(dependency.name)) continue;
        const next = registry.values().find((candidate) => candidate.options.name === dependency.name);
        const found = next && visit(next, [...chain, dependency.name]);
        if (found) return found;
      }
      return undefined;
    };
    return visit(from, [target, from.options.name]);
  }

  /**
   * `import … from 'pricing/prices'` in the code of `parent`: the module through the host's federation — the same
   * checks, cache, availability and live updates, one instance per host — as a live binding, so the parent's code
   * follows the child's live updates too.
   */
  async function importRemote(parent: RemoteVersion, key: string, specifier: string): Promise<unknown> {
    const record = nestedRecord(parent, key);
    await currentVersion(record);
    const chain = cycleThrough(record, parent.manifest.name);
    if (chain) {
      throw new RemoteCycleError(
        `Remote "${parent.alias}" imports "${specifier}", and the remotes it uses lead back to it: ` +
          `${chain.join(' → ')}. A cycle of remotes is refused; move what they share into a remote of its own.`,
        { remote: parent.alias, expose: specifier, chain },
      );
    }
    const binding = await liveBinding(`${record.alias}${specifier.slice(key.length)}`);
    return Object.prototype.toString.call(binding) === '[object Module]' ? binding : commonJsNamespace(binding);
  }

  /** `host.live()`: one binding per specifier whose functions call the remote's current version. */
  async function liveBinding<T>(specifier: string): Promise<T> {
    await importModule(specifier);
    const { alias, exposeKey } = parseSpecifier(specifier);
    const record = registry.require(alias, specifier);
    // One binding per specifier: `host.live(x).fn === host.live(x).fn`, as for a module.
    const known = record.bindings.get(specifier);
    if (known) return known as T;
    let last = record.current!;
    const binding = createLiveBinding<T>(() => {
      const version = record.current;
      // The current version loaded every expose in use before it became current; one imported later only on
      // the old version loads in the background meanwhile, and calls stay on the last version that has it.
      if (version && version !== last) {
        if (version.loadedExports(exposeKey) !== undefined) last = version;
        else version.import(exposeKey).catch(() => {});
      }
      const target = last;
      return { exports: target.loadedExports(exposeKey)?.value, enter: () => target.enter() };
    });
    record.bindings.set(specifier, binding);
    return binding;
  }

  /**
   * `host.import()`, on `tracing:ferry:import:*` when someone subscribes. Not itself async: an unobserved import is
   * one async function, as before the tracing channels (a second would cost the hot path two more microtask turns).
   */
  function importModule<T>(specifier: string): Promise<T> {
    if (!tracing.import.hasSubscribers) return loadImport<T>(specifier);
    let trace: ImportTraceContext;
    try {
      const { alias, exposeKey } = parseSpecifier(specifier);
      trace = { host: hostName, remote: alias, expose: exposeKey, specifier };
    } catch {
      return loadImport<T>(specifier); // rejects with the specifier's error, untraced like ferry:import:start
    }
    return tracing.import.tracePromise(() => loadImport<T>(specifier, trace), trace);
  }

  /** An import answered by `version`: announced on `ferry:import:end`, and its trace (when traced) told which version. */
  function importDone(
    message: { host: string; remote: string; expose: string },
    started: number,
    version: RemoteVersion,
    trace: ImportTraceContext | undefined,
  ): void {
    if (channels.importEnd.hasSubscribers) {
      channels.importEnd.publish({ ...message, version: version.version, durationMs: performance.now() - started });
    }
    if (trace) {
      Object.assign(trace, {
        version: version.version,
        release: version.manifest.ferry.release,
        source: version.source,
      });
    }
  }

  /** Stages 1-5 of an import (`trace`: its `tracing:ferry:import` context, when someone subscribes). */
  async function loadImport<T>(specifier: string, trace?: ImportTraceContext): Promise<T> {
    if (closed) throw closedError(specifier);
    // Stage 1: resolve.
    const { alias, exposeKey } = parseSpecifier(specifier);
    const record = registry.require(alias, specifier);
    const remote = record.options;
    const started = performance.now();
    const message = { host: hostName, remote: alias, expose: exposeKey };
    channels.importStart.publish(message);
    // An expose the current version has loaded, with no check under way that imports must wait for: its exports now.
    // The path below would wait for nothing, but through several microtask turns, the import deadline's async context
    // and their allocations, which an app that imports on every request pays on every request (bench/ROUNDS.md,
    // sixteenth round).
    const active = record.refreshing === undefined ? record.current : undefined;
    const loaded = active?.loadedExports(exposeKey);
    if (active && loaded) {
      importDone(message, started, active, trace);
      return loaded.value as T;
    }
    try {
      await record.refreshing?.catch(() => {});
      // The import's deadline bounds every request, retry and wait below it.
      const { version, exports } = await deadlines.run(started + remote.timeouts.import, async () => {
        // Stage 2: the trusted manifest and its version.
        let current = await currentVersion(record);
        if (closed) throw closedError(specifier);
        // Swapped out (and disposed) while this import waited: the current version answers instead.
        if (current.disposed) current = await currentVersion(record);
        // Stages 3-5: files, shared modules, evaluation.
        return { version: current, exports: (await current.import(exposeKey)) as T };
      });
      importDone(message, started, version, trace);
      return exports;
    } catch (error) {
      const named = nameTheImport(error, specifier, remote);
      const local = await importFallback({ name: hostName, warn }, remote, exposeKey, named);
      if (trace && local !== undefined) trace.fallback = true;
      if (local !== undefined) return local.exports as T;
      channels.importError.publish({ ...message, error: named, durationMs: performance.now() - started });
      throw named;
    }
  }

  return {
    name: hostName,
    shareScope: scope,
    shared: () => sharing.report(),
    import: importModule,
    remotes: () => registry.status(),
    loadedVersion: (alias) => registry.get(alias)?.current?.version,
    async exposes(alias) {
      const version = await currentVersion(registry.require(alias));
      return Object.keys(version.manifest.ferry.exposes);
    },
    live: liveBinding,
    on: (type, listener) => updates.on(type, listener),
    async update(alias) {
      const records = alias === undefined ? registry.values() : [registry.require(alias)];
      return Promise.all(records.map((record) => updates.check(record, 'manual')));
    },
    async addRemote(alias, raw) {
      if (registry.has(alias)) {
        throw new InvalidOptionError(
          `Host "${hostName}" already has a remote named "${alias}"; use pointRemote() to change its URL.`,
          { remote: alias, option: `remotes.${alias}` },
        );
      }
      const record = registry.add(resolveAddedRemote(resolved, alias, raw));
      try {
        const version = await currentVersion(record);
        await version.initialise();
      } catch (error) {
        registry.delete(alias);
        updates.unwatch(record);
        const pending = record.pending;
        record.pending = record.current = undefined;
        void pending?.then((version) => version.dispose()).catch(() => {});
        throw error;
      }
      const { version, manifest } = record.current!;
      updates.emit({ type: 'activated', remote: alias, version, release: manifest.ferry.release, trigger: 'add' });
    },
    async removeRemote(alias) {
      const record = registry.require(alias);
      registry.delete(alias);
      updates.unwatch(record);
      const pending = record.pending;
      record.pending = record.current = undefined;
      const version = await pending?.catch(() => undefined);
      if (version) await updates.retire(version);
    },
    async pointRemote(alias, raw) {
      const record = registry.require(alias);
      const remote = resolveAddedRemote(resolved, alias, raw);
      registry.allowOrigin(remote.manifestUrl);
      if (!record.pending) {
        record.options = remote;
        return { remote: alias, status: 'not-loaded' };
      }
      const outcome = await updates.check(record, 'point', undefined, remote);
      if (outcome.status !== 'activated' && outcome.status !== 'unchanged') {
        throw (
          outcome.error ?? new UnknownRemoteError(`Remote "${alias}" could not be pointed at ${remote.manifestUrl}.`)
        );
      }
      record.options = remote;
      updates.unwatch(record);
      updates.watch(record);
      return outcome;
    },
    async close() {
      closed = true;
      stale.close();
      cache.close();
      updates.close();
      for (const record of registry.values()) {
        record.stopTimers();
        record.current?.dispose();
        record.pending = record.current = undefined;
      }
      connections.close();
      // Files fetched beside one that failed may still be on their way into the cache: nothing is written after this.
      await Promise.all([cache.idle(), releases.close(), channelStore?.close()]);
    },
    [Symbol.asyncDispose]() {
      return this.close();
    },
  };
}
