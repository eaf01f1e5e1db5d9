/**
 * The live-update options of a host and of each remote: how new versions are detected (polling interval, push), the
 * compatibility gate (a semver range per remote), the optional health check, and how long an old version may drain.
 * Validated once (a wrong value is an InvalidOptionError naming the option); a remote inherits the host's detection
 * settings and may override each one.
 */
import { InvalidOptionError } from '../common/errors.ts';
import * as semver from '../common/semver.ts';
import type { UpdateMessage } from './channels.ts';

/** What a health check sees of a candidate version before it becomes current. */
export interface UpdateCandidate {
  /** The remote's alias. */
  remote: string;
  /** The candidate's version (`ferry.version`). */
  version: string;
  /** The version it would replace. */
  previous: string | undefined;
  /** Loads an expose of the candidate (`'./tokenValidator'`), as `host.import` would after the swap. */
  import(exposeKey: string): Promise<unknown>;
}

/** Throw, or resolve to `false`, to refuse the candidate; the current version then keeps serving. */
export type HealthCheck = (candidate: UpdateCandidate) => unknown;

/** Detection options a host sets for all remotes and a remote may override. */
export interface LiveDetectionOptions {
  /** How often to check each loaded remote's manifest (a conditional request), in ms; `false`: never. Default 30 000. */
  pollInterval?: number | false;
  /** Subscribe to the remote's server-sent events (`mf-manifest.events`) and check when it announces a change; polling only runs while the push channel is down. Default true. */
  push?: boolean;
}

/** Live-update options of the host. */
export interface LiveHostOptions extends LiveDetectionOptions {
  /** Runs against a candidate version after it is initialised and before the swap. */
  healthCheck?: HealthCheck;
  /**
   * How long an old version may finish the calls made through live bindings before it is disposed, in ms
   * (default 10 000). Disposal clears its timers and listeners, so a call still waiting on one would never finish.
   */
  drainTimeout?: number;
  /** Receives every update event (also published on diagnostics_channel and given to `host.on()` listeners). */
  onUpdate?: (event: UpdateMessage) => void;
}

/** Live-update options of one remote. */
export interface LiveRemoteOptions extends LiveDetectionOptions {
  /** The semver range of versions this host accepts from the remote (`'^1'`); others are refused. */
  version?: string;
}

export interface ResolvedLiveRemote {
  version: string | undefined;
  pollInterval: number | false;
  push: boolean;
}

export interface ResolvedLiveHost {
  pollInterval: number | false;
  push: boolean;
  healthCheck: HealthCheck | undefined;
  drainTimeout: number;
  onUpdate: ((event: UpdateMessage) => void) | undefined;
}

export const LIVE_HOST_KEYS = ['pollInterval', 'push', 'healthCheck', 'drainTimeout', 'onUpdate'];
export const LIVE_REMOTE_KEYS = ['pollInterval', 'push', 'version'];

function invalid(option: string, message: string): never {
  throw new InvalidOptionError(`createHost: ${option} ${message}`, { option });
}

function interval(value: unknown, option: string, fallback: number | false): number | false {
  if (value === undefined) return fallback;
  if (value === false) return false;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 50) {
    invalid(option, `must be a number of milliseconds of at least 50, or false, got ${String(value)}.`);
  }
  return value;
}

function bool(value: unknown, option: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') invalid(option, `must be true or false, got ${JSON.stringify(value)}.`);
  return value;
}

/**
 * The host's live-update settings.
 *
 * @example
 * ```ts
 * resolveLiveHost({ pollInterval: 5000, drainTimeout: 2000 }); // { pollInterval: 5000, push: true, drainTimeout: 2000, … }
 * ```
 */
export function resolveLiveHost(options: LiveHostOptions): ResolvedLiveHost {
  const drainTimeout = options.drainTimeout ?? 10_000;
  if (typeof drainTimeout !== 'number' || !Number.isFinite(drainTimeout) || drainTimeout < 0) {
    invalid('drainTimeout', `must be a number of milliseconds (0 or more), got ${String(drainTimeout)}.`);
  }
  for (const name of ['healthCheck', 'onUpdate'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') invalid(name, 'must be a function.');
  }
  return {
    pollInterval: interval(options.pollInterval, 'pollInterval', 30_000),
    push: bool(options.push, 'push', true),
    healthCheck: options.healthCheck,
    drainTimeout,
    onUpdate: options.onUpdate,
  };
}

/** A remote's live-update settings: its own values, else the host's. */
export function resolveLiveRemote(
  options: LiveRemoteOptions,
  where: string,
  host: ResolvedLiveHost,
): ResolvedLiveRemote {
  const range = options.version;
  if (range !== undefined && (typeof range !== 'string' || semver.validRange(range) === null)) {
    invalid(`${where}.version`, `must be a semver range such as "^1", got ${JSON.stringify(range)}.`);
  }
  return {
    version: range,
    pollInterval: interval(options.pollInterval, `${where}.pollInterval`, host.pollInterval),
    push: bool(options.push, `${where}.push`, host.push),
  };
}
