/**
 * What the runtime publishes on node:diagnostics_channel. Subscribing costs nothing when nobody listens, so loads,
 * fetches, failures and warnings are always published; tools (APM, logs, tests) subscribe by name.
 *
 * @example
 * ```ts
 * import diagnostics_channel from 'node:diagnostics_channel';
 * diagnostics_channel.subscribe('ferry:import:end', (message) => console.log(message));
 * ```
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import type { WarningCode } from '../common/warnings.ts';

/** Channel names, stable across versions. */
export const channelNames = {
  importStart: 'ferry:import:start',
  importEnd: 'ferry:import:end',
  importError: 'ferry:import:error',
  fetch: 'ferry:fetch',
  manifest: 'ferry:manifest',
  warning: 'ferry:warning',
  cache: 'ferry:cache',
  breaker: 'ferry:breaker',
  fallback: 'ferry:fallback',
  updateCheck: 'ferry:update:check',
  updateFound: 'ferry:update:found',
  updateActivated: 'ferry:update:activated',
  updateRefused: 'ferry:update:refused',
  updateDisposed: 'ferry:update:disposed',
  updateRolledBack: 'ferry:update:rolled-back',
} as const;

export interface ImportStartMessage {
  host: string;
  remote: string;
  expose: string;
}
export interface ImportEndMessage extends ImportStartMessage {
  version: string;
  durationMs: number;
}
export interface ImportErrorMessage extends ImportStartMessage {
  error: Error;
  durationMs: number;
}
export interface FetchMessage {
  host: string;
  remote: string;
  url: string;
  status: number;
  bytes: number;
  durationMs: number;
}
export interface ManifestMessage {
  host: string;
  remote: string;
  url: string;
  version: string;
  release: number;
  signed: boolean;
}
export interface WarningMessage {
  host: string;
  remote?: string;
  code: WarningCode;
  message: string;
}

/**
 * `ferry:cache`: `stale` — a remote was unavailable and its last verified copy is served from `cache.dir` (`ageMs`
 * since the remote last served or confirmed it); `revalidated` — the remote is back and confirmed that copy (a 304);
 * `refreshed` — the remote is back with another manifest, which was accepted and replaces the cached one.
 */
export interface CacheMessage {
  host: string;
  remote: string;
  event: 'stale' | 'revalidated' | 'refreshed';
  url: string;
  version: string;
  ageMs: number;
  error?: Error;
}
/** `ferry:breaker`: a remote's circuit breaker changed state. */
export interface BreakerMessage {
  host: string;
  remote: string;
  state: 'closed' | 'open' | 'half-open';
  failures: number;
  retryAt?: number;
}
/** `ferry:fallback`: an import was served by the remote's local fallback module; `error` says why. */
export interface FallbackMessage {
  host: string;
  remote: string;
  expose: string;
  error: Error;
}

/**
 * Live updates (`ferry:update:*`, also `host.on(type, …)` and the `onUpdate` option): `check` — the host asks a
 * remote for its manifest (`trigger`: `poll`, `push`, `manual`, `point`, `add`); `found` — the remote serves a version
 * other than the current one; `activated` — it passed every check and is now current (`previous` was replaced);
 * `refused` — it did not, and the current version keeps serving (`error` says why, `reason` which check);
 * `disposed` — a replaced (or removed) version was released.
 */
export interface UpdateMessage {
  type: 'check' | 'found' | 'activated' | 'refused' | 'disposed' | 'rolled-back';
  host: string;
  remote: string;
  /** The version the event is about (the candidate; for `disposed`, the released one). */
  version?: string;
  /** The version that was current when the event happened. */
  previous?: string;
  /** The candidate's release number. */
  release?: number;
  trigger?: 'poll' | 'push' | 'manual' | 'point' | 'add' | 'cache' | 'retry' | 'halt';
  /**
   * For a remote followed through a channel: the channel, the document's sequence, this host's bucket (0–100), and
   * whether the release is the rollout's (a canary) — so operators can count hosts per release.
   */
  channel?: { name: string; sequence: number; bucket: number; inRollout: boolean; pinned: boolean };
  /** For `rolled-back`: the calls through live bindings and the errors among them within the budget's window. */
  calls?: number;
  errors?: number;
  /**
   * For `refused`: which check refused it (`verification`, `contract`, `version-range`, `shared-conflict`,
   * `initialisation`, `health-check`).
   */
  reason?: string;
  /** For `refused` with `reason: 'contract'`: the breaking exports, as `./expose#export` (`./expose` when removed). */
  breaking?: string[];
  /**
   * For `refused`: set when the failure may pass (a file not fetched, or not matching, during a deployment): the
   * build is tried again after a backoff (1 s, 2 s, … up to a minute; `trigger: 'retry'`) and at every later check.
   */
  retry?: boolean;
  error?: Error;
}

export const channels = {
  importStart: diagnosticsChannel.channel(channelNames.importStart),
  importEnd: diagnosticsChannel.channel(channelNames.importEnd),
  importError: diagnosticsChannel.channel(channelNames.importError),
  fetch: diagnosticsChannel.channel(channelNames.fetch),
  manifest: diagnosticsChannel.channel(channelNames.manifest),
  warning: diagnosticsChannel.channel(channelNames.warning),
  cache: diagnosticsChannel.channel(channelNames.cache),
  breaker: diagnosticsChannel.channel(channelNames.breaker),
  fallback: diagnosticsChannel.channel(channelNames.fallback),
  update: {
    check: diagnosticsChannel.channel(channelNames.updateCheck),
    found: diagnosticsChannel.channel(channelNames.updateFound),
    activated: diagnosticsChannel.channel(channelNames.updateActivated),
    refused: diagnosticsChannel.channel(channelNames.updateRefused),
    disposed: diagnosticsChannel.channel(channelNames.updateDisposed),
    'rolled-back': diagnosticsChannel.channel(channelNames.updateRolledBack),
  },
};

/**
 * Where a version's bytes came from: `network` — the remote served them; `cache` — the remote confirmed the cached
 * copy (a 304) and the files were read from `cache.dir`; `stale` — the remote was unavailable and the last verified
 * copy was served from the cache (stale-if-error).
 */
export type CopySource = 'network' | 'cache' | 'stale';

/** Tracing channel names (`tracing:ferry:import:start`, `…:end`, `…:asyncStart`, `…:asyncEnd`, `…:error`). */
export const tracingNames = {
  import: 'ferry:import',
  manifest: 'ferry:manifest',
  file: 'ferry:file',
  update: 'ferry:update',
} as const;

/**
 * `tracing:ferry:import:*`: one `host.import()` (or `host.live()`), from after its specifier resolved to a remote to
 * its exports (or error). Filled in when it settles: `version`, `release` and `source` of the version that answered,
 * `fallback` when the remote's local fallback answered; node sets `result` (the exports) or `error` (a FerryError
 * with its `code`).
 */
export interface ImportTraceContext {
  host: string;
  remote: string;
  expose: string;
  specifier: string;
  version?: string;
  release?: number;
  source?: CopySource;
  fallback?: boolean;
  result?: unknown;
  error?: unknown;
}

/**
 * `tracing:ferry:manifest:*`: fetching a remote's manifest (and signature) and checking it (signature, name, expiry,
 * rollback). Filled in when accepted: `version`, `release`, `source`, `signed`. `result` is internal; `error` is the
 * typed error (a verification failure's `code` says which check).
 */
export interface ManifestTraceContext {
  host: string;
  remote: string;
  url: string;
  version?: string;
  release?: number;
  source?: CopySource;
  signed?: boolean;
  result?: unknown;
  error?: unknown;
}

/**
 * `tracing:ferry:file:*`: one file of a version fetched (or read from the cache) and checked against the manifest's
 * size and integrity. Filled in: `source` (`network` or `cache`), `status`, `bytes`. `result` is the verified bytes.
 */
export interface FileTraceContext {
  host: string;
  remote: string;
  version: string;
  file: string;
  url: string;
  source?: 'network' | 'cache';
  status?: number;
  bytes?: number;
  result?: unknown;
  error?: unknown;
}

/**
 * `tracing:ferry:update:*`: one live-update check of a remote (`trigger` says what asked), which may activate a new
 * version. Filled in when it settles: `status` (`unchanged`, `activated`, `refused`, `failed`, `not-loaded`),
 * `version` (current after the check), `previous`, `reason` (for `refused`). `result` is the {@link UpdateMessage}-like
 * outcome `host.update()` resolves with; a refusal is an outcome, not an `error`.
 */
export interface UpdateTraceContext {
  host: string;
  remote: string;
  trigger: NonNullable<UpdateMessage['trigger']>;
  status?: string;
  version?: string;
  previous?: string;
  reason?: string;
  result?: unknown;
  error?: unknown;
}

/**
 * The tracing channels. The runtime checks `hasSubscribers` before building a context, so an unobserved host pays one
 * property read per operation; with subscribers, the traced function runs inside the `start` channel's bound stores
 * (how an OpenTelemetry instrumentation makes its span the active one for the requests below it).
 */
export const tracing = {
  import: diagnosticsChannel.tracingChannel<unknown, ImportTraceContext>(tracingNames.import),
  manifest: diagnosticsChannel.tracingChannel<unknown, ManifestTraceContext>(tracingNames.manifest),
  file: diagnosticsChannel.tracingChannel<unknown, FileTraceContext>(tracingNames.file),
  update: diagnosticsChannel.tracingChannel<unknown, UpdateTraceContext>(tracingNames.update),
};

/** Where the bytes of an accepted manifest came from (see {@link CopySource}). */
export function copySourceOf(trusted: { source: 'network' | 'cache'; fromCache: boolean }): CopySource {
  if (trusted.source === 'cache') return 'stale';
  return trusted.fromCache ? 'cache' : 'network';
}
