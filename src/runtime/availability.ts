/**
 * What keeps a host serving when its remotes are down, slow or broken, per host: the disk cache (file-cache.ts) and
 * its pruning (cache-prune.ts, requested whenever a new manifest is recorded), one circuit breaker per remote
 * (breaker.ts), requests with retries inside the import's deadline (retry.ts), the state the inspection API shows
 * (`host.remotes()`), and the background refresh of a remote served from the cache.
 *
 * The import deadline travels with the import through AsyncLocalStorage, so every request an import causes (the
 * manifest, its signature, each file) gets at most what is left of it, however the load is shared between imports.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { CircuitOpenError, type FerryError } from '../common/errors.ts';
import type { FileEntry } from '../manifest/index.ts';
import { AVAILABILITY_DEFAULTS, type ResolvedAvailability } from './availability-options.ts';
import { Breaker, type BreakerSnapshot } from './breaker.ts';
import { CachePruner } from './cache-prune.ts';
import { channels } from './channels.ts';
import { FileCache } from './file-cache.ts';
import type { ResolvedHostOptions, ResolvedRemote } from './options.ts';
import { isUnavailable, withRetries } from './retry.ts';
import { type FetchBytesOptions, type FetchBytesResult, fetchBytes } from './transport.ts';

/** What `host.remotes()` reports for one remote. */
export interface RemoteStatus {
  /** The manifest URL. */
  url: string;
  /** Where the current copy came from: the remote itself, the disk cache (stale-if-error), or nothing loaded yet. */
  source: 'network' | 'cache' | 'none';
  /** Age of the cached copy being served, in ms (when `source` is `cache`). */
  staleForMs?: number;
  /** The circuit breaker's state (`undefined` when the breaker is turned off). */
  breaker?: BreakerSnapshot;
  /** The last failure of a request to the remote, if the last request failed. */
  lastError?: { code: string; message: string; at: string };
}

interface RemoteState {
  breaker: Breaker | undefined;
  source: RemoteStatus['source'];
  cachedAt?: number;
  /** The integrity of the manifest served from the cache while `source` is `cache`. */
  staleIntegrity?: string;
  lastError?: RemoteStatus['lastError'];
  /** The last unavailability failure, the cause of an open breaker. */
  lastFailure?: FerryError;
  refreshTimer?: NodeJS.Timeout;
  refreshDelay: number;
}

/** The request options a caller gives; deadlines, retries and the transport come from the remote's policy. */
export type RemoteFetchOptions = Pick<FetchBytesOptions, 'maxBytes' | 'what' | 'etag' | 'allowNotFound'> & {
  /**
   * One attempt, no retries: the caller has a verified copy to serve if this fails (stale-if-error), and the
   * background refresh does the retrying, so an import does not wait out the backoff of a remote that is down.
   */
  once?: boolean;
};

const deadlines = new AsyncLocalStorage<number>();
const registry = new WeakMap<ResolvedHostOptions, HostAvailability>();

export class HostAvailability {
  readonly host: ResolvedHostOptions;
  readonly cache: FileCache;
  /** Removes old versions' files from the cache, in the background (cache-prune.ts). */
  readonly pruner: CachePruner;
  readonly #states = new Map<string, RemoteState>();
  readonly #warned = new Set<string>();
  readonly #changed = new Set<(alias: string) => void>();
  readonly #writes = new Set<Promise<unknown>>();
  readonly #cachedManifests = new WeakSet<object>();
  #closed = false;

  constructor(host: ResolvedHostOptions) {
    this.host = host;
    this.cache = new FileCache(host.cacheDir, (code, message) => this.warn(code, message), {
      versionsOf: (name, url) => Math.max(...this.#policiesOf(name, url).map((policy) => policy.cacheVersions)),
      onNewManifest: () => this.pruner.request(),
    });
    this.pruner = new CachePruner(this.cache, {
      host: host.name,
      // A host option that remotes inherit and cannot override (availability-options.ts): any remote has it.
      interval: () => (host.remotes.values().next().value?.availability ?? AVAILABILITY_DEFAULTS).cachePruneInterval,
      warn: (code, message) => this.warn(code, message),
    });
  }

  /** The policies of the remotes with this name and manifest URL (aliases of one remote may differ), or the defaults. */
  #policiesOf(name: string, url: string): ResolvedAvailability[] {
    const policies = [...this.host.remotes.values()]
      .filter((remote) => remote.name === name && remote.manifestUrl === url)
      .map((remote) => remote.availability);
    return policies.length > 0 ? policies : [AVAILABILITY_DEFAULTS];
  }

  /** Reports a warning as the host does: once per message, on `ferry:warning` and to `onWarning`. */
  warn(code: string, message: string, remote?: string): void {
    // A cache folder that cannot be written fails every write: one warning says it.
    const key = code === 'FERRY_CACHE_WRITE' ? code : message;
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    channels.warning.publish({ host: this.host.name, remote, code, message });
    this.host.onWarning({ code, message, ...(remote === undefined ? {} : { remote }) });
  }

  state(remote: ResolvedRemote): RemoteState {
    let state = this.#states.get(remote.alias);
    if (!state) {
      const policy = remote.availability.breaker;
      state = {
        breaker:
          policy &&
          new Breaker(policy, (snapshot) =>
            channels.breaker.publish({ host: this.host.name, remote: remote.alias, ...snapshot }),
          ),
        source: 'none',
        refreshDelay: 1000,
      };
      this.#states.set(remote.alias, state);
    }
    return state;
  }

  /**
   * Runs `load` (part of one import) under the import's deadline (a `performance.now()` time), which every request
   * it makes respects.
   */
  withDeadline<T>(deadlineAt: number, load: () => Promise<T>): Promise<T> {
    return deadlines.run(deadlineAt, load);
  }

  /**
   * One request to a remote: through its breaker, with retries, every attempt bounded by the phase deadlines and by
   * what is left of the import's deadline.
   */
  async fetch(remote: ResolvedRemote, url: string, fetchOptions: RemoteFetchOptions): Promise<FetchBytesResult> {
    const { once, ...options } = fetchOptions;
    const policy = remote.availability;
    const retry = once ? { ...policy.retry, attempts: 1 } : policy.retry;
    const deadlineAt = deadlines.getStore() ?? performance.now() + policy.importTimeout;
    const state = this.state(remote);
    // The breaker gates whole requests (with their retries): one failed request, however many attempts, is one
    // failure, and a probe is one request.
    state.breaker?.admit(remote.alias, url, state.lastFailure);
    try {
      const result = await withRetries(retry, deadlineAt, (remaining) =>
        fetchBytes(url, {
          ...options,
          timeout: Math.max(1, Math.min(remote.timeout, remaining)),
          timeoutPhase: remaining < remote.timeout ? 'import' : 'request',
          connectTimeout: policy.connectTimeout,
          headersTimeout: policy.headersTimeout,
          bodyTimeout: policy.bodyTimeout,
          remote: remote.alias,
          fetch: this.host.fetch,
          origins: this.host.origins,
        }),
      );
      state.breaker?.success();
      state.lastError = undefined;
      return result;
    } catch (error) {
      const ferryError = error as FerryError;
      state.lastError = { code: ferryError.code, message: ferryError.message, at: new Date().toISOString() };
      // A remote that answers, even wrongly, is up: only unavailability moves the breaker towards open.
      if (isUnavailable(error)) {
        state.lastFailure = ferryError;
        state.breaker?.failure();
      } else state.breaker?.success();
      throw error;
    }
  }

  /** A verified file from the disk cache, or undefined (absent, or corrupt and deleted). */
  cachedFile(integrity: string): Promise<Uint8Array | undefined> {
    return this.cache.read(integrity);
  }

  /** Marks a manifest whose bytes came from the cache (confirmed by a 304, or served stale). */
  markCached(manifest: object): void {
    this.#cachedManifests.add(manifest);
  }

  /**
   * A file of `manifest` from the cache, when that manifest itself came from the cache: an unchanged remote costs a
   * 304 and no file bytes. The files of a manifest the remote just served are fetched from it (and stored).
   */
  async cachedFileFor(manifest: object, entry: FileEntry): Promise<Uint8Array | undefined> {
    if (!this.#cachedManifests.has(manifest)) return undefined;
    const bytes = await this.cache.read(entry.integrity);
    return bytes?.byteLength === entry.size ? bytes : undefined;
  }

  /**
   * The remote could not serve a file: the cached copy of exactly those bytes when the failure is unavailability
   * (the remote went down mid-load), else the error. Resolves in the shape of a fetch result.
   */
  async cachedFileOnError(entry: FileEntry, error: unknown): Promise<FetchBytesResult> {
    const remoteUnavailable = isUnavailable(error) || error instanceof CircuitOpenError;
    const bytes = remoteUnavailable ? await this.cache.read(entry.integrity) : undefined;
    if (!bytes || bytes.byteLength !== entry.size) throw error;
    return { status: 200, bytes, etag: undefined, url: this.cache.pathOf(entry.integrity) };
  }

  /**
   * Counts a cache write until it settles, so that {@link idle} (and `host.close()`) can wait for it: a file fetched
   * beside one that failed may still be on its way to the disk when the import has already failed.
   */
  track<T>(write: Promise<T>): Promise<T> {
    this.#writes.add(write);
    const done = () => this.#writes.delete(write);
    write.then(done, done);
    return write;
  }

  /** Resolves when no cache write is in flight (the host's close() waits for this). */
  async idle(): Promise<void> {
    while (this.#writes.size > 0) await Promise.allSettled([...this.#writes]);
  }

  /** Keeps verified bytes in the disk cache; a failed write is a warning, never a failed import. */
  async store(integrity: string, bytes: Uint8Array): Promise<void> {
    await this.track(this.cache.write(integrity, bytes)).catch((error: unknown) => {
      this.warn(
        'FERRY_CACHE_WRITE',
        `The host could not write a verified file to its cache ${this.cache.dir} (${(error as Error).message}); ` +
          'it keeps working, but cannot start from the cache while a remote is down. Make `cacheDir` a folder the ' +
          "host's user can write.",
      );
    });
  }

  /** The remote served (or confirmed) its manifest: it is live again, and no refresh is needed. */
  servedFresh(remote: ResolvedRemote): void {
    const state = this.state(remote);
    state.source = 'network';
    // cachedAt stays: the `refreshed` / `revalidated` event reports how old the copy that was served had become.
    state.refreshDelay = 1000;
    clearTimeout(state.refreshTimer);
    state.refreshTimer = undefined;
  }

  /**
   * The remote is unavailable and its cached copy is served: say so (event and one warning with the age), and keep
   * trying the remote in the background with conditional requests until it answers.
   */
  servedStale(
    remote: ResolvedRemote,
    served: { version: string; integrity: string },
    fetchedAt: number,
    error: FerryError,
    refresh: () => Promise<unknown>,
  ): void {
    const { version } = served;
    const state = this.state(remote);
    const firstTime = state.source !== 'cache';
    state.source = 'cache';
    state.cachedAt = fetchedAt;
    state.staleIntegrity = served.integrity;
    const ageMs = Math.max(0, Date.now() - fetchedAt);
    channels.cache.publish({
      host: this.host.name,
      remote: remote.alias,
      event: 'stale',
      url: remote.manifestUrl,
      version,
      ageMs,
      error,
    });
    if (firstTime) {
      this.warn(
        'FERRY_STALE_CACHE',
        `Remote "${remote.alias}" is unavailable (${error.code}: ${error.message.split('. ')[0]}); serving version ` +
          `${version} from the host's cache, verified when the remote last served it ${formatAge(ageMs)} ago ` +
          `(${new Date(fetchedAt).toISOString()}). The host keeps checking the remote in the background.`,
        remote.alias,
      );
    }
    this.#scheduleRefresh(remote, refresh);
  }

  /**
   * The remote served or confirmed its manifest (`manifest`: its version and integrity). When the host was serving
   * the cached copy, it is back on the network: published as `revalidated` (the same manifest) or `refreshed`
   * (another one), whichever request got there first — the background refresh, a live-update check (push or
   * poll) or an import.
   */
  backOnline(remote: ResolvedRemote, manifest: { version: string; integrity: string }): void {
    const state = this.state(remote);
    const wasStale = state.source === 'cache';
    const changed = manifest.integrity !== state.staleIntegrity;
    const ageMs = state.cachedAt === undefined ? 0 : Math.max(0, Date.now() - state.cachedAt);
    this.servedFresh(remote);
    state.staleIntegrity = undefined;
    if (!wasStale) return;
    channels.cache.publish({
      host: this.host.name,
      remote: remote.alias,
      event: changed ? 'refreshed' : 'revalidated',
      url: remote.manifestUrl,
      version: manifest.version,
      ageMs,
    });
  }

  /** Tells the {@link onChanged} listeners that the background refresh found a new manifest for `remote`. */
  changed(remote: ResolvedRemote): void {
    for (const listener of this.#changed) listener(remote.alias);
  }

  /** Calls `listener(alias)` when a background refresh found a new manifest for a remote served from the cache. */
  onChanged(listener: (alias: string) => void): void {
    this.#changed.add(listener);
  }

  #scheduleRefresh(remote: ResolvedRemote, refresh: () => Promise<unknown>): void {
    const state = this.state(remote);
    if (this.#closed || state.refreshTimer !== undefined) return;
    const retryAt = state.breaker?.snapshot().retryAt;
    const wait = Math.max(
      retryAt === undefined ? 0 : retryAt - Date.now(),
      state.refreshDelay * (0.5 + Math.random() / 2),
    );
    state.refreshDelay = Math.min(state.refreshDelay * 2, 30_000);
    state.refreshTimer = setTimeout(() => {
      state.refreshTimer = undefined;
      // The refresh reports its own outcome (backOnline / servedStale, which schedules the next one).
      this.withDeadline(performance.now() + remote.availability.importTimeout, refresh).catch(() => {
        if (state.source === 'cache') this.#scheduleRefresh(remote, refresh);
      });
    }, wait);
    state.refreshTimer.unref();
  }

  /** The status of every remote, for `host.remotes()`. */
  inspect(): Record<string, RemoteStatus> {
    const out: Record<string, RemoteStatus> = {};
    for (const remote of this.host.remotes.values()) {
      const state = this.state(remote);
      out[remote.alias] = {
        url: remote.manifestUrl,
        source: state.source,
        ...(state.source === 'cache' && state.cachedAt !== undefined
          ? { staleForMs: Math.max(0, Date.now() - state.cachedAt) }
          : {}),
        ...(state.breaker ? { breaker: state.breaker.snapshot() } : {}),
        ...(state.lastError ? { lastError: state.lastError } : {}),
      };
    }
    return out;
  }

  /** Stops background refreshes and pruning. */
  close(): void {
    this.#closed = true;
    this.pruner.close();
    for (const state of this.#states.values()) {
      clearTimeout(state.refreshTimer);
      state.refreshTimer = undefined;
    }
  }
}

/**
 * The availability state of a host (created on first use, one per resolved options object).
 *
 * @example
 * ```ts
 * const availability = availabilityOf(resolved);
 * const { bytes } = await availability.fetch(remote, url, { maxBytes: 1 << 20, what: 'manifest' });
 * ```
 */
export function availabilityOf(host: ResolvedHostOptions): HostAvailability {
  let availability = registry.get(host);
  if (!availability) {
    availability = new HostAvailability(host);
    registry.set(host, availability);
  }
  return availability;
}

/** `3 h 12 min`, `4 min 2 s`, `800 ms`. */
export function formatAge(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}
