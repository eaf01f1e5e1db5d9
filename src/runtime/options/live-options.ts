/**
 * The `live` options: how new versions of a remote are detected (`pollInterval`, `push`; a remote may override
 * both), and, for the host, the health check a candidate passes before the swap, how long a replaced version may
 * drain, and a listener for every update event.
 */
import type { UpdateMessage } from '../channels.ts';
import { child, flag, hostOnly, invalid, optionalFunction, section } from './checks.ts';

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

/** How a remote's new versions are detected. */
export interface LiveRemoteOptions {
  /** How often to check the remote's manifest (a conditional request), in ms; `false`: never. Default 30 000. */
  pollInterval?: number | false;
  /**
   * Subscribe to the remote's server-sent events (`mf-manifest.events`) and check when it announces a change;
   * polling only runs while that push channel is down. Default true.
   */
  push?: boolean;
}

/** Live-update options of the host (detection defaults for every remote, and the rest for the host alone). */
export interface LiveHostOptions extends LiveRemoteOptions {
  /** Runs against a candidate version after it is initialised and before the swap. */
  healthCheck?: HealthCheck;
  /**
   * How long an old version may finish the calls made through live bindings before it is disposed, in ms
   * (default 10 000). Disposal clears its timers and listeners, so a call still waiting on one would never finish.
   */
  drainTimeout?: number;
  /** Receives every update event (also published on diagnostics_channel and given to `host.on()` listeners). */
  onUpdate?: (event: UpdateMessage) => void;
  /**
   * The error budget of a canary: when a release this host got from a channel's rollout fails more than
   * `maxErrorRate` of at least `minCalls` calls through live bindings within `window` ms, the host goes back to the
   * channel's release by itself (`rolled-back` event) and does not take that release again until the channel changes.
   * Default `{ maxErrorRate: 0.1, minCalls: 20, window: 60000 }`; `false`: never.
   */
  canary?: Partial<CanaryBudget> | false;
}

/** A canary's error budget. */
export interface CanaryBudget {
  maxErrorRate: number;
  minCalls: number;
  window: number;
}

export type ResolvedLiveRemote = Readonly<Required<LiveRemoteOptions>>;

export interface ResolvedLiveHost extends ResolvedLiveRemote {
  readonly canary: Readonly<CanaryBudget> | undefined;
  readonly healthCheck: HealthCheck | undefined;
  readonly drainTimeout: number;
  readonly onUpdate: ((event: UpdateMessage) => void) | undefined;
}

/** The options of earlier ferry versions that now live under `live`. */
export const MOVED_LIVE: Readonly<Record<string, string>> = {
  pollInterval: 'live.pollInterval',
  push: 'live.push',
  drainTimeout: 'live.drainTimeout',
  healthCheck: 'live.healthCheck',
  onUpdate: 'live.onUpdate',
};

const HOST_ONLY: Readonly<Record<string, string>> = {
  healthCheck: 'is a host option: one health check runs for every remote. Set live.healthCheck on createHost().',
  drainTimeout: 'is a host option. Set live.drainTimeout on createHost().',
  onUpdate: "is a host option: it receives every remote's events. Set live.onUpdate on createHost().",
};

function interval(value: unknown, option: string, fallback: number | false): number | false {
  if (value === undefined) return fallback;
  if (value === false) return false;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 50) {
    invalid(option, `must be a number of milliseconds of at least 50, or false, got ${String(value)}.`);
  }
  return value;
}

/** The host's `live`. */
export function resolveLiveHost(raw: unknown): ResolvedLiveHost {
  const value = section(raw, 'live', {
    known: ['pollInterval', 'push', 'healthCheck', 'drainTimeout', 'onUpdate', 'canary'],
  });
  let canary: CanaryBudget | undefined = { maxErrorRate: 0.1, minCalls: 20, window: 60_000 };
  if (value['canary'] === false) canary = undefined;
  else if (value['canary'] !== undefined) {
    const raw = section(value['canary'], 'live.canary', { known: ['maxErrorRate', 'minCalls', 'window'] });
    const rate = raw['maxErrorRate'] ?? canary.maxErrorRate;
    if (typeof rate !== 'number' || !(rate >= 0 && rate <= 1)) {
      invalid('live.canary.maxErrorRate', `must be a fraction from 0 to 1, got ${JSON.stringify(rate)}.`);
    }
    const minCalls = raw['minCalls'] ?? canary.minCalls;
    if (typeof minCalls !== 'number' || !Number.isSafeInteger(minCalls) || minCalls < 1) {
      invalid('live.canary.minCalls', `must be a whole number of at least 1, got ${JSON.stringify(minCalls)}.`);
    }
    const window = raw['window'] ?? canary.window;
    if (typeof window !== 'number' || !Number.isFinite(window) || window <= 0) {
      invalid('live.canary.window', `must be a positive number of milliseconds, got ${JSON.stringify(window)}.`);
    }
    canary = { maxErrorRate: rate as number, minCalls: minCalls as number, window: window as number };
  }
  const drainTimeout = value['drainTimeout'] ?? 10_000;
  if (typeof drainTimeout !== 'number' || !Number.isFinite(drainTimeout) || drainTimeout < 0) {
    invalid('live.drainTimeout', `must be a number of milliseconds (0 or more), got ${String(drainTimeout)}.`);
  }
  return Object.freeze({
    pollInterval: interval(value['pollInterval'], 'live.pollInterval', 30_000),
    push: flag(value['push'], 'live.push', true),
    canary: canary && Object.freeze(canary),
    healthCheck: optionalFunction<HealthCheck>(value['healthCheck'], 'live.healthCheck'),
    drainTimeout,
    onUpdate: optionalFunction<(event: UpdateMessage) => void>(value['onUpdate'], 'live.onUpdate'),
  });
}

/** A remote's `live` (at `where`, `remotes.<alias>`): its own detection settings, else the host's. */
export function resolveLiveRemote(raw: unknown, where: string, host: ResolvedLiveRemote): ResolvedLiveRemote {
  const option = child(where, 'live');
  hostOnly(raw, option, HOST_ONLY);
  const value = section(raw, option, { known: ['pollInterval', 'push'] });
  return Object.freeze({
    pollInterval: interval(value['pollInterval'], `${option}.pollInterval`, host.pollInterval),
    push: flag(value['push'], `${option}.push`, host.push),
  });
}
