/**
 * One record per remote, owned by one registry per host: the remote's resolved options, its current version (pending
 * or loaded), its watcher, its circuit breaker and last failure, whether it is served from the cache, and the state of
 * its live-update checks. Every part of the runtime is handed the registry (or a record) by the host; no part keeps a
 * table of its own keyed by alias, and nothing is found through module-level state.
 */
import type { FerryError } from '../common/errors.ts';
import { UnknownRemoteError } from '../common/errors.ts';
import type { CopySource } from './channels.ts';
import type { UpdateOutcome } from './live/live-updates.ts';
import type { Watcher } from './live/watcher.ts';
import { Backoff } from './net/backoff.ts';
import { Breaker, type BreakerSnapshot } from './net/breaker.ts';
import type { RemoteRequestState } from './net/remote-client.ts';
import type { ResolvedRemote } from './options/remote-options.ts';
import type { RemoteVersion } from './version/remote-version.ts';

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
  /**
   * The current version, once loaded: its version and release, where its bytes came from (`network`, `cache` after a
   * 304, `stale`), the pinned public key that verified it (none for an unsigned remote), and since when it is current.
   */
  current?: { version: string; release: number; source: CopySource; signedBy?: string; since: string };
}

/** Stale-if-error: where the current copy came from, and the background refresh while it is the cached one. */
export interface StaleState {
  source: RemoteStatus['source'];
  /** When the remote last served (or confirmed) the cached copy, epoch ms. */
  cachedAt?: number;
  /** The integrity of the manifest served from the cache while `source` is `cache`. */
  integrity?: string;
  refreshTimer?: NodeJS.Timeout;
  /** The waits between background refreshes. */
  readonly refreshBackoff: Backoff;
}

/** Live updates: the check in progress, and what is remembered between checks. */
export interface UpdateState {
  running?: Promise<UpdateOutcome>;
  /**
   * The check that runs after the one in progress, shared by every request that arrived during it: those callers get
   * its outcome (it sees what changed meanwhile), not the outcome of a check that started before they asked.
   */
  next?: Promise<UpdateOutcome>;
  /** The last refused build: not tried again until the remote serves another one. */
  refused?: { integrity: string; error: Error };
  /** Transient failures of the newest build in a row, and the timer that tries it again. */
  readonly retryBackoff: Backoff;
  retryTimer?: NodeJS.Timeout;
}

export class RemoteRecord implements RemoteRequestState {
  readonly alias: string;
  /** The remote's options, replaced as a whole when the alias is re-pointed. */
  options: ResolvedRemote;
  readonly breaker: Breaker | undefined;
  lastError: RemoteRequestState['lastError'];
  lastFailure: FerryError | undefined;
  /** The current version: its load while pending, then the version itself. Undefined until first needed. */
  pending: Promise<RemoteVersion> | undefined;
  /** The current version once loaded (for synchronous readers: live bindings, `loadedVersion`). */
  current: RemoteVersion | undefined;
  /** A background refresh found a new manifest: imports wait for its verify-then-swap. */
  refreshing: Promise<unknown> | undefined;
  /** Detection of new versions, once loaded. */
  watcher: Watcher | undefined;
  readonly stale: StaleState = { source: 'none', refreshBackoff: new Backoff({ base: 1000, max: 30_000 }) };
  readonly updates: UpdateState = { retryBackoff: new Backoff({ base: 1000, max: 60_000 }) };
  /** Live bindings by specifier: `host.live(x) === host.live(x)`. */
  readonly bindings = new Map<string, unknown>();
  /** A rollout release this host halted (its canary failed here): not taken again until the channel's sequence moves. */
  halted: { release: number; sequence: number } | undefined;

  constructor(options: ResolvedRemote, onBreaker: (alias: string, snapshot: BreakerSnapshot) => void) {
    this.alias = options.alias;
    this.options = options;
    this.breaker = options.breaker && new Breaker(options.breaker, (snapshot) => onBreaker(this.alias, snapshot));
  }

  /** What `host.remotes()` shows. */
  status(): RemoteStatus {
    const { stale } = this;
    return {
      url: this.options.manifestUrl,
      source: stale.source,
      ...(stale.source === 'cache' && stale.cachedAt !== undefined
        ? { staleForMs: Math.max(0, Date.now() - stale.cachedAt) }
        : {}),
      ...(this.breaker ? { breaker: this.breaker.snapshot() } : {}),
      ...(this.lastError ? { lastError: this.lastError } : {}),
      ...(this.current ? { current: currentOf(this.current) } : {}),
    };
  }

  /** Stops the record's timers (background refresh, live-update retry). */
  stopTimers(): void {
    clearTimeout(this.stale.refreshTimer);
    this.stale.refreshTimer = undefined;
    clearTimeout(this.updates.retryTimer);
    this.updates.retryTimer = undefined;
  }
}

function currentOf(version: RemoteVersion): NonNullable<RemoteStatus['current']> {
  const { manifest, source, signedBy, createdAt } = version;
  return {
    version: manifest.ferry.version,
    release: manifest.ferry.release,
    source,
    ...(signedBy === undefined ? {} : { signedBy }),
    since: new Date(createdAt).toISOString(),
  };
}

/** The host's remotes, by alias, and the origins it may fetch from. */
export class RemoteRegistry {
  readonly #records = new Map<string, RemoteRecord>();
  readonly #hostName: string;
  readonly #allowed: readonly string[];
  readonly #onBreaker: (alias: string, snapshot: BreakerSnapshot) => void;
  /** Every origin the host may fetch from: `allowedOrigins` and its remotes' (kept as remotes are added). */
  readonly origins = new Set<string>();

  constructor(
    hostName: string,
    remotes: readonly ResolvedRemote[],
    allowedOrigins: readonly string[],
    onBreaker: (alias: string, snapshot: BreakerSnapshot) => void,
  ) {
    this.#hostName = hostName;
    this.#allowed = allowedOrigins;
    this.#onBreaker = onBreaker;
    for (const origin of allowedOrigins) this.origins.add(origin);
    for (const remote of remotes) this.add(remote);
  }

  get(alias: string): RemoteRecord | undefined {
    return this.#records.get(alias);
  }

  has(alias: string): boolean {
    return this.#records.has(alias);
  }

  /** The record of `alias`, or an {@link UnknownRemoteError} naming the configured remotes (and `specifier`). */
  require(alias: string, specifier?: string): RemoteRecord {
    const record = this.#records.get(alias);
    if (record) return record;
    const importing = specifier === undefined ? '' : ` (importing "${specifier}")`;
    throw new UnknownRemoteError(
      `Host "${this.#hostName}" has no remote named "${alias}"${importing}. Configured remotes: ` +
        `${this.aliases().join(', ') || 'none'}.${specifier === undefined ? '' : ' Add it to `remotes` in createHost().'}`,
      { remote: alias, ...(specifier === undefined ? {} : { expose: specifier }) },
    );
  }

  /**
   * Adds a remote. Its origin joins the allowed ones, unless `allowOrigin` is false (a remote another remote names:
   * the host's origin policy decides whether it may be fetched).
   */
  add(options: ResolvedRemote, { allowOrigin = true } = {}): RemoteRecord {
    const record = new RemoteRecord(options, this.#onBreaker);
    this.#records.set(options.alias, record);
    if (allowOrigin) this.allowOrigin(options.manifestUrl);
    return record;
  }

  /** Lets the host fetch from `url`'s origin (a remote's new URL). */
  allowOrigin(url: string): void {
    this.origins.add(new URL(url).origin);
  }

  delete(alias: string): void {
    this.#records.get(alias)?.stopTimers();
    this.#records.delete(alias);
  }

  aliases(): string[] {
    return [...this.#records.keys()];
  }

  values(): RemoteRecord[] {
    return [...this.#records.values()];
  }

  /** The status of every remote, for `host.remotes()`. */
  status(): Record<string, RemoteStatus> {
    const out: Record<string, RemoteStatus> = {};
    for (const record of this.#records.values()) out[record.alias] = record.status();
    return out;
  }

  /** `allowedOrigins` as configured, for messages. */
  get allowedOrigins(): readonly string[] {
    return this.#allowed;
  }
}
