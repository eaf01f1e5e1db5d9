/**
 * The network options a host sets for all its remotes and a remote may override: `timeouts` (the phases of one
 * request, the whole request, and a whole import), `retry` and `breaker`. Resolved over the host's values (a remote)
 * or the defaults (the host), validated once and frozen.
 */
import type { BreakerPolicy } from '../net/breaker.ts';
import type { RetryPolicy } from '../net/retry.ts';
import { atLeast, child, invalid, milliseconds, section } from './checks.ts';

/** Deadlines, in milliseconds. */
export interface TimeoutOptions {
  /** To establish a connection (DNS, TCP, TLS). Default 3 000. */
  connect?: number;
  /** From sending a request to its response headers. Default 5 000. */
  headers?: number;
  /** From the headers to the end of the body. Default 10 000. */
  body?: number;
  /** One whole request (connect, headers and body). Default 10 000. */
  request?: number;
  /**
   * One whole `host.import()`: every request, retry and wait of it, and the remote's initialisation and evaluation.
   * Default 15 000.
   */
  import?: number;
}

/** The network options of a host (its defaults for every remote) or of one remote. */
export interface NetworkOptions {
  /** Deadlines: `{ connect, headers, body, request, import }`, in ms. */
  timeouts?: TimeoutOptions;
  /** Retries of failed requests (`false`: none). Default `{ attempts: 3, baseDelay: 100, maxDelay: 2000 }`. */
  retry?: Partial<RetryPolicy> | false;
  /** The circuit breaker (`false`: none). Default `{ failureThreshold: 5, cooldown: 5000 }`. */
  breaker?: Partial<BreakerPolicy> | false;
}

export type ResolvedTimeouts = Readonly<Required<TimeoutOptions>>;

export interface ResolvedNetwork {
  timeouts: ResolvedTimeouts;
  retry: Readonly<RetryPolicy>;
  /** `undefined`: no breaker. */
  breaker: Readonly<BreakerPolicy> | undefined;
}

export const NETWORK_KEYS = ['timeouts', 'retry', 'breaker'] as const;

/** The options of earlier ferry versions that now live under `timeouts`. */
export const MOVED_TIMEOUTS: Readonly<Record<string, string>> = {
  timeout: 'timeouts.request',
  connectTimeout: 'timeouts.connect',
  headersTimeout: 'timeouts.headers',
  bodyTimeout: 'timeouts.body',
  importTimeout: 'timeouts.import',
};

const DEFAULT_BREAKER: BreakerPolicy = { failureThreshold: 5, cooldown: 5_000 };

export const NETWORK_DEFAULTS: ResolvedNetwork = Object.freeze({
  timeouts: Object.freeze({ connect: 3_000, headers: 5_000, body: 10_000, request: 10_000, import: 15_000 }),
  retry: Object.freeze({ attempts: 3, baseDelay: 100, maxDelay: 2_000 }),
  breaker: Object.freeze({ ...DEFAULT_BREAKER }),
});

/** Resolves `timeouts`, `retry` and `breaker` of `raw` (at `where`: `''` or `remotes.<alias>`) over `base`. */
export function resolveNetwork(
  raw: NetworkOptions,
  where: string,
  base: ResolvedNetwork = NETWORK_DEFAULTS,
): ResolvedNetwork {
  const option = (key: string) => child(where, key);
  const timeouts = section(raw.timeouts, option('timeouts'), {
    known: ['connect', 'headers', 'body', 'request', 'import'],
  });
  const ms = (key: keyof TimeoutOptions) =>
    milliseconds(timeouts[key], `${option('timeouts')}.${key}`, base.timeouts[key]);

  let retry = base.retry;
  if (raw.retry === false) retry = { ...retry, attempts: 1 };
  else if (raw.retry !== undefined) {
    const value = section(raw.retry, option('retry'), { known: ['attempts', 'baseDelay', 'maxDelay'] });
    retry = {
      attempts: Math.floor(atLeast(value['attempts'], `${option('retry')}.attempts`, retry.attempts, 1)),
      baseDelay: atLeast(value['baseDelay'], `${option('retry')}.baseDelay`, retry.baseDelay, 0, 'a number of ms'),
      maxDelay: atLeast(value['maxDelay'], `${option('retry')}.maxDelay`, retry.maxDelay, 0, 'a number of ms'),
    };
  }

  let breaker = base.breaker;
  if (raw.breaker === false) breaker = undefined;
  else if (raw.breaker !== undefined) {
    const value = section(raw.breaker, option('breaker'), { known: ['failureThreshold', 'cooldown'] });
    const from = breaker ?? DEFAULT_BREAKER;
    breaker = {
      failureThreshold: Math.floor(
        atLeast(value['failureThreshold'], `${option('breaker')}.failureThreshold`, from.failureThreshold, 1),
      ),
      cooldown: atLeast(value['cooldown'], `${option('breaker')}.cooldown`, from.cooldown, 1, 'a number of ms'),
    };
  }
  if (raw.retry !== undefined && raw.retry !== false && typeof raw.retry !== 'object') {
    invalid(option('retry'), 'must be an object of options, or false.');
  }
  return Object.freeze({
    timeouts: Object.freeze({
      connect: ms('connect'),
      headers: ms('headers'),
      body: ms('body'),
      request: ms('request'),
      import: ms('import'),
    }),
    retry: Object.freeze(retry),
    breaker: breaker && Object.freeze(breaker),
  });
}
