/**
 * Live updates: which version of each remote is current, and how another one becomes current. A candidate is fetched
 * and verified (trusted-manifest.ts), gated (the host's semver range for the remote, no conflict with the shared
 * singletons in use), initialised with the share scope and made to load every expose the current version serves,
 * optionally health-checked, and only then swapped in — one `Map.set`, so every later `host.import()` and every call
 * through a live binding gets it. A candidate that fails any step never becomes current; the `refused` event says why.
 * The replaced version drains (calls through live bindings finish on it, up to `drainTimeout`) and is disposed.
 */
import {
  CircuitOpenError,
  FerryError,
  HttpStatusError,
  IncompatibleVersionError,
  IntegrityError,
  UpdateRefusedError,
} from '../common/errors.ts';
import * as semver from '../common/semver.ts';
import type { Manifest } from '../manifest/index.ts';
import { channels, type UpdateMessage } from './channels.ts';
import type { ResolvedHostOptions, ResolvedRemote } from './options.ts';
import type { RemoteVersion } from './remote-version.ts';
import { isUnavailable } from './retry.ts';
import type { ShareScope } from './share-scope.ts';
import type { TrustedManifest } from './trusted-manifest.ts';
import { type Watcher, watchRemote } from './watcher.ts';

/** What a check of one remote found. */
export interface UpdateOutcome {
  remote: string;
  /**
   * `unchanged`: the current version is the newest; `activated`: a new version is now current; `refused`: a new
   * version failed a check and the current one stays; `failed`: the remote could not be asked (it is unavailable);
   * `not-loaded`: nothing of the remote is loaded yet (the next import loads the newest version).
   */
  status: 'unchanged' | 'activated' | 'refused' | 'failed' | 'not-loaded';
  /** The current version after the check. */
  version?: string;
  /** For `activated`: the version it replaced. */
  previous?: string;
  error?: Error;
}

export type UpdateTrigger = NonNullable<UpdateMessage['trigger']>;

/** What the host lends to its live updates. */
export interface LiveUpdateDeps {
  host: ResolvedHostOptions;
  /** The current version of each loaded remote (shared with host.ts, which loads the first one). */
  versions: Map<string, Promise<RemoteVersion>>;
  /** The same versions once loaded, for synchronous readers (live bindings, `loadedVersion`). */
  loaded: Map<string, RemoteVersion>;
  fetchManifest(remote: ResolvedRemote): Promise<TrustedManifest>;
  createVersion(remote: ResolvedRemote, trusted: TrustedManifest): RemoteVersion;
  scopeOf(name: string): ShareScope;
}

/**
 * Throws {@link IncompatibleVersionError} when `manifest` is outside the range the host declares for the remote.
 *
 * @example
 * ```ts
 * checkVersionRange(remote, manifest); // remote.live.version '^1', manifest.ferry.version '2.0.0' -> throws
 * ```
 */
export function checkVersionRange(remote: ResolvedRemote, manifest: Manifest): void {
  const range = remote.live.version;
  if (range === undefined || semver.satisfies(manifest.ferry.version, range, { includePrerelease: true })) return;
  throw new IncompatibleVersionError(
    `Remote "${remote.alias}" (${remote.manifestUrl}) serves version ${manifest.ferry.version}, outside the range ` +
      `${range} this host accepts (remotes.${remote.alias}.version); it was not loaded. Deploy a version in ${range}, ` +
      'or widen the range once the host is ready for it.',
    { remote: remote.alias, url: remote.manifestUrl, option: `remotes.${remote.alias}.version` },
  );
}

/** A singleton the candidate requires, outside its range, while another version is already the one in use. */
function sharedConflict(remote: ResolvedRemote, manifest: Manifest, scopeOf: (name: string) => ShareScope): void {
  for (const [pkg, entry] of Object.entries(manifest.ferry.shared)) {
    if (!entry.singleton || typeof entry.requiredVersion !== 'string') continue;
    const providers = scopeOf(entry.shareScope)[pkg] ?? {};
    const inUse = Object.entries(providers).find(([, provider]) => provider.loaded)?.[0];
    if (inUse === undefined || semver.satisfies(inUse, entry.requiredVersion, { includePrerelease: true })) continue;
    throw new UpdateRefusedError(
      `Version ${manifest.ferry.version} of remote "${remote.alias}" requires the shared singleton "${pkg}" ` +
        `${entry.requiredVersion}, but ${inUse} is the instance in use in this host; a running host cannot swap a ` +
        `singleton, so the new version was refused and the current one keeps serving. Restart the host with a ` +
        `compatible ${pkg}, or rebuild the remote with a range that includes ${inUse}.`,
      { remote: remote.alias, url: remote.manifestUrl, package: pkg, reason: 'shared-conflict' },
    );
  }
}

const refusal = (reason: string, error: unknown) => ({ reason, error: error as Error });

/**
 * A candidate's file that could not be fetched (down, timed out, an HTTP error such as the 404 of a file not
 * deployed yet) or whose bytes did not match (a deployment still copying files, a CDN edge serving the old
 * `remoteEntry.js`) may be fine a moment later: such a build is tried again, not remembered as refused.
 */
function isTransient(error: unknown): boolean {
  return (
    isUnavailable(error) ||
    error instanceof CircuitOpenError ||
    error instanceof HttpStatusError ||
    error instanceof IntegrityError
  );
}

/** Waits before trying a build again after a transient failure: 1 s, 2 s, 4 s, … up to a minute. */
const retryDelay = (failures: number) => Math.min(60_000, 1000 * 2 ** Math.max(0, failures - 1));

export class LiveUpdates {
  readonly #deps: LiveUpdateDeps;
  readonly integrity = new WeakMap<RemoteVersion, string>();
  readonly #watchers = new Map<string, Watcher>();
  readonly #checks = new Map<string, Promise<UpdateOutcome>>();
  readonly #again = new Set<string>();
  /** The integrity of the last refused build per remote: not tried again until the remote serves another one. */
  readonly #refused = new Map<string, { integrity: string; error: Error }>();
  readonly #inFlight = new WeakMap<RemoteVersion, { count: number; drained?: () => void }>();
  /** Per remote: transient failures in a row of the newest build, and the timer that tries it again. */
  readonly #retries = new Map<string, { failures: number; timer?: NodeJS.Timeout }>();
  readonly #listeners = new Map<UpdateMessage['type'], Set<(event: UpdateMessage) => void>>();
  #closed = false;

  constructor(deps: LiveUpdateDeps) {
    this.#deps = deps;
  }

  /** Adds a listener for one event type; returns a function that removes it. */
  on(type: UpdateMessage['type'], listener: (event: UpdateMessage) => void): () => void {
    if (!this.#listeners.has(type)) this.#listeners.set(type, new Set());
    this.#listeners.get(type)!.add(listener);
    return () => this.#listeners.get(type)?.delete(listener);
  }

  emit(event: Omit<UpdateMessage, 'host'>): void {
    const message = { host: this.#deps.host.name, ...event } as UpdateMessage;
    channels.update[message.type].publish(message);
    this.#deps.host.live.onUpdate?.(message);
    for (const listener of this.#listeners.get(message.type) ?? []) listener(message);
  }

  /** Starts detection for a loaded remote (once). */
  watch(remote: ResolvedRemote): void {
    if (this.#closed || this.#watchers.has(remote.alias)) return;
    if (remote.live.pollInterval === false && !remote.live.push) return;
    this.#watchers.set(
      remote.alias,
      watchRemote({
        manifestUrl: remote.manifestUrl,
        pollInterval: remote.live.pollInterval,
        push: remote.live.push,
        // The push channel goes through the host's own transport and origin policy, as every other request does.
        fetch: this.#deps.host.fetch,
        origins: this.#deps.host.origins,
        check: (trigger, integrity) => this.check(remote.alias, trigger, integrity),
      }),
    );
  }

  unwatch(alias: string): void {
    this.#clearRetry(alias);
    this.#watchers.get(alias)?.stop();
    this.#watchers.delete(alias);
  }

  /** Counts a call on `version` (live bindings); the returned function ends it. */
  enter(version: RemoteVersion): () => void {
    let state = this.#inFlight.get(version);
    if (!state) {
      state = { count: 0 };
      this.#inFlight.set(version, state);
    }
    const entry = state;
    entry.count++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      entry.count--;
      if (entry.count === 0) entry.drained?.();
    };
  }

  /**
   * Checks one remote for a new version and activates it if it passes. Concurrent checks of a remote share one run;
   * a request that arrives during a run starts one more run after it (a push may announce a build mid-check).
   * `remote` overrides the configured remote (pointing an alias at a new URL).
   */
  check(alias: string, trigger: UpdateTrigger, announced?: string, remote?: ResolvedRemote): Promise<UpdateOutcome> {
    const running = this.#checks.get(alias);
    if (running && remote === undefined) {
      this.#again.add(alias);
      return running;
    }
    const run = this.#check(alias, trigger, announced, remote).finally(() => {
      if (this.#checks.get(alias) === run) this.#checks.delete(alias);
      if (this.#again.delete(alias) && !this.#closed) void this.check(alias, trigger);
    });
    this.#checks.set(alias, run);
    return run;
  }

  async #check(
    alias: string,
    trigger: UpdateTrigger,
    announced: string | undefined,
    override: ResolvedRemote | undefined,
  ): Promise<UpdateOutcome> {
    const remote = override ?? this.#deps.host.remotes.get(alias);
    const pending = this.#deps.versions.get(alias);
    const current = await pending?.catch(() => undefined);
    if (!remote || !pending || !current || this.#closed) return { remote: alias, status: 'not-loaded' };
    const base = { remote: alias, version: current.version };
    if (announced !== undefined && announced === this.integrity.get(current)) return { ...base, status: 'unchanged' };
    this.emit({ type: 'check', remote: alias, version: current.version, trigger });
    let trusted: TrustedManifest;
    try {
      trusted = await this.#deps.fetchManifest(remote);
    } catch (error) {
      if (isUnavailable(error) || error instanceof CircuitOpenError || !(error instanceof FerryError)) {
        return { ...base, status: 'failed', error: error as Error };
      }
      // It answered with something that does not verify (signature, rollback, expiry, another remote's manifest).
      // Never remembered, and tried again with backoff: a deployment may be between writing the manifest and its
      // signature. Each try is verified from scratch, so trying again costs a request and risks nothing.
      this.emit({
        type: 'refused',
        remote: alias,
        previous: current.version,
        trigger,
        reason: 'verification',
        error,
        retry: true,
      });
      this.#retryLater(alias);
      return { ...base, status: 'refused', error };
    }
    const { manifest } = trusted;
    if (trusted.integrity === this.integrity.get(current)) {
      this.#clearRetry(alias);
      // The current version, confirmed: its cache record gets the new time and ETag.
      await trusted.commit().catch(() => {});
      return { ...base, status: 'unchanged' };
    }
    const refused = this.#refused.get(alias);
    if (refused?.integrity === trusted.integrity) return { ...base, status: 'refused', error: refused.error };
    const candidate = { remote: alias, version: manifest.ferry.version, release: manifest.ferry.release, trigger };
    this.emit({ type: 'found', ...candidate, previous: current.version });
    const refuse = ({ reason, error }: { reason: string; error: Error }): UpdateOutcome => {
      this.#refused.set(alias, { integrity: trusted.integrity, error });
      this.emit({ type: 'refused', ...candidate, previous: current.version, reason, error });
      return { ...base, status: 'refused', error };
    };
    try {
      checkVersionRange(remote, manifest);
    } catch (error) {
      return refuse(refusal('version-range', error));
    }
    try {
      sharedConflict(remote, manifest, this.#deps.scopeOf);
    } catch (error) {
      return refuse(refusal('shared-conflict', error));
    }
    const next = this.#deps.createVersion(remote, trusted);
    const failed = await this.#prepare(next, current);
    if (failed) {
      next.dispose();
      if (!isTransient(failed.error)) return refuse(failed);
      // Not remembered: tried again soon (a deployment in progress), and at every later check.
      this.emit({ type: 'refused', ...candidate, previous: current.version, ...failed, retry: true });
      this.#retryLater(alias);
      return { ...base, status: 'failed', error: failed.error };
    }
    this.#clearRetry(alias);
    // Another check, a removal or close() changed the remote meanwhile: this candidate is no longer wanted.
    if (this.#closed || this.#deps.versions.get(alias) !== pending) {
      next.dispose();
      return { ...base, status: 'unchanged' };
    }
    this.integrity.set(next, trusted.integrity);
    this.#deps.versions.set(alias, Promise.resolve(next));
    this.#deps.loaded.set(alias, next);
    this.#refused.delete(alias);
    this.emit({ type: 'activated', ...candidate, previous: current.version });
    // Committed now that it is current (release and cache record); a failed write is a warning, never undoes the swap.
    await trusted.commit().catch(() => {});
    void this.retire(current);
    return { remote: alias, status: 'activated', version: next.version, previous: current.version };
  }

  /** Initialises the candidate, loads what the current version serves, runs the health check; or says why not. */
  async #prepare(next: RemoteVersion, current: RemoteVersion): Promise<{ reason: string; error: Error } | undefined> {
    try {
      await next.initialise();
      for (const key of current.importedKeys()) await next.import(key);
    } catch (error) {
      return refusal(error instanceof IntegrityError ? 'verification' : 'initialisation', error);
    }
    const healthCheck = this.#deps.host.live.healthCheck;
    if (!healthCheck) return undefined;
    const remote = next.context.remote;
    try {
      const healthy = await healthCheck({
        remote: remote.alias,
        version: next.version,
        previous: current.version,
        import: (exposeKey) => next.import(exposeKey),
      });
      if (healthy === false) throw new Error('the health check returned false');
      return undefined;
    } catch (error) {
      return refusal(
        'health-check',
        new UpdateRefusedError(
          `Version ${next.version} of remote "${remote.alias}" failed the host's health check ` +
            `(${(error as Error)?.message ?? String(error)}); version ${current.version} keeps serving.`,
          { remote: remote.alias, url: remote.manifestUrl, reason: 'health-check', cause: error },
        ),
      );
    }
  }

  /** Lets calls through live bindings finish on `version` (up to `drainTimeout`), then disposes it. */
  async retire(version: RemoteVersion): Promise<void> {
    const state = this.#inFlight.get(version);
    if (state && state.count > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.#deps.host.live.drainTimeout);
        timer.unref();
        state.drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    if (version.disposed) return;
    version.dispose();
    this.emit({ type: 'disposed', remote: version.alias, version: version.version });
  }

  #retryLater(alias: string): void {
    const state = this.#retries.get(alias) ?? { failures: 0 };
    clearTimeout(state.timer);
    state.failures++;
    state.timer = setTimeout(() => {
      state.timer = undefined;
      if (!this.#closed) void this.check(alias, 'retry');
    }, retryDelay(state.failures));
    state.timer.unref();
    this.#retries.set(alias, state);
  }

  #clearRetry(alias: string): void {
    clearTimeout(this.#retries.get(alias)?.timer);
    this.#retries.delete(alias);
  }

  /** Stops every watcher and retry; later checks do nothing. */
  close(): void {
    this.#closed = true;
    for (const alias of [...this.#watchers.keys()]) this.unwatch(alias);
    for (const alias of [...this.#retries.keys()]) this.#clearRetry(alias);
  }
}
