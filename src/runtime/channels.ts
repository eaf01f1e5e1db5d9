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
