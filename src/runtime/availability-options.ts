/**
 * The availability options of a host and of each remote: deadlines per phase and for the whole import, retries,
 * the circuit breaker, stale-if-error, how much of the disk cache is kept, and local fallbacks. Validated once (a
 * wrong value is an InvalidOptionError naming the option); a remote inherits the host's values and may override each
 * one, except `cachePruneInterval`, which is the host's alone (pruning covers the whole `cacheDir`).
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InvalidOptionError } from '../common/errors.ts';
import type { BreakerPolicy } from './breaker.ts';
import type { RetryPolicy } from './retry.ts';

/** A local module to use instead of a remote one: a module path (relative to `root`) or a function that loads it. */
export type LocalFallback = string | ((exposeKey: string) => unknown);

/** Options a host sets for all its remotes and a remote may override. */
export interface AvailabilityOptions {
  /** Deadline to establish a connection (DNS, TCP, TLS), in ms (default 3 000). */
  connectTimeout?: number;
  /** Deadline from sending a request to its response headers, in ms (default 5 000). */
  headersTimeout?: number;
  /** Deadline from the headers to the end of the body, in ms (default 10 000). */
  bodyTimeout?: number;
  /** Deadline of a whole `host.import()`: every request, retry and wait of it, in ms (default 15 000). */
  importTimeout?: number;
  /** Retries of failed requests (`false`: none). Default `{ attempts: 3, baseDelay: 100, maxDelay: 2000 }`. */
  retry?: Partial<RetryPolicy> | false;
  /** The circuit breaker (`false`: none). Default `{ failureThreshold: 5, cooldown: 5000 }`. */
  breaker?: Partial<BreakerPolicy> | false;
  /** Serve the last verified copy from `cacheDir` when the remote is unavailable (default true). */
  staleIfError?: boolean;
  /**
   * How many versions of the remote the disk cache keeps: its current manifest and the ones accepted before it, each
   * with its files (a whole number, at least 1; default 3). Older versions' files are removed when the cache is
   * pruned, so a restart right after an update can still start from the previous version, but a host that follows
   * hundreds of updates does not keep hundreds of versions.
   */
  cacheVersions?: number;
  /**
   * Host option only. The least time between two prunings of the disk cache, in ms (default 600 000, ten minutes;
   * `0`: after every new manifest; `false`: never prune). Pruning runs in the background after a new manifest is
   * recorded and removes files that no remote's kept versions reference and that are older than ten minutes.
   */
  cachePruneInterval?: number | false;
}

export interface ResolvedAvailability {
  connectTimeout: number;
  headersTimeout: number;
  bodyTimeout: number;
  importTimeout: number;
  retry: RetryPolicy;
  breaker: BreakerPolicy | undefined;
  staleIfError: boolean;
  cacheVersions: number;
  /** `false`: never prune. */
  cachePruneInterval: number | false;
}

export const AVAILABILITY_KEYS = [
  'connectTimeout',
  'headersTimeout',
  'bodyTimeout',
  'importTimeout',
  'retry',
  'breaker',
  'staleIfError',
  'cacheVersions',
  'cachePruneInterval',
];

/** The values a host gets for the options it does not set. */
export const AVAILABILITY_DEFAULTS: ResolvedAvailability = Object.freeze({
  connectTimeout: 3_000,
  headersTimeout: 5_000,
  bodyTimeout: 10_000,
  importTimeout: 15_000,
  retry: { attempts: 3, baseDelay: 100, maxDelay: 2_000 },
  breaker: { failureThreshold: 5, cooldown: 5_000 },
  staleIfError: true,
  cacheVersions: 3,
  cachePruneInterval: 600_000,
});

function invalid(option: string, message: string): never {
  throw new InvalidOptionError(`createHost: ${option} ${message}`, { option });
}

function number(value: unknown, option: string, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    invalid(option, `must be a number of at least ${min}, got ${String(value)}.`);
  }
  return value;
}

function policy<T extends object>(value: unknown, option: string, keys: Array<keyof T & string>): Partial<T> {
  if (typeof value !== 'object' || value === null) invalid(option, 'must be an object of options, or false.');
  for (const key of Object.keys(value)) {
    if (!keys.includes(key as keyof T & string)) {
      invalid(`${option}.${key}`, `is not an option; the options are ${keys.join(', ')}.`);
    }
  }
  return value as Partial<T>;
}

/**
 * Resolves the availability options in `raw` (a host's or a remote's options) over `base`.
 *
 * @example
 * ```ts
 * const host = resolveAvailability({ importTimeout: 5000 }, '');
 * const remote = resolveAvailability({ retry: false }, 'remotes.authService.', host);
 * ```
 */
export function resolveAvailability(
  raw: AvailabilityOptions,
  where: string,
  base: ResolvedAvailability = AVAILABILITY_DEFAULTS,
): ResolvedAvailability {
  let retry = base.retry;
  if (raw.retry === false) retry = { ...retry, attempts: 1 };
  else if (raw.retry !== undefined) {
    const value = policy<RetryPolicy>(raw.retry, `${where}retry`, ['attempts', 'baseDelay', 'maxDelay']);
    retry = {
      attempts: Math.floor(number(value.attempts, `${where}retry.attempts`, retry.attempts)),
      baseDelay: number(value.baseDelay, `${where}retry.baseDelay`, retry.baseDelay, 0),
      maxDelay: number(value.maxDelay, `${where}retry.maxDelay`, retry.maxDelay, 0),
    };
  }
  let breaker = base.breaker;
  if (raw.breaker === false) breaker = undefined;
  else if (raw.breaker !== undefined) {
    const value = policy<BreakerPolicy>(raw.breaker, `${where}breaker`, ['failureThreshold', 'cooldown']);
    const from = breaker ?? (AVAILABILITY_DEFAULTS.breaker as BreakerPolicy);
    breaker = {
      failureThreshold: Math.floor(
        number(value.failureThreshold, `${where}breaker.failureThreshold`, from.failureThreshold),
      ),
      cooldown: number(value.cooldown, `${where}breaker.cooldown`, from.cooldown),
    };
  }
  if (raw.staleIfError !== undefined && typeof raw.staleIfError !== 'boolean') {
    invalid(`${where}staleIfError`, `must be true or false, got ${JSON.stringify(raw.staleIfError)}.`);
  }
  if (
    raw.cacheVersions !== undefined &&
    (typeof raw.cacheVersions !== 'number' || !Number.isSafeInteger(raw.cacheVersions) || raw.cacheVersions < 1)
  ) {
    invalid(
      `${where}cacheVersions`,
      `must be a whole number of at least 1 (the versions of the remote kept in cacheDir), got ${String(raw.cacheVersions)}.`,
    );
  }
  let cachePruneInterval = base.cachePruneInterval;
  if (raw.cachePruneInterval !== undefined) {
    // One pruning covers the whole cacheDir, whichever remote's record triggered it: a per-remote value would mean
    // nothing.
    if (where !== '') {
      invalid(
        `${where}cachePruneInterval`,
        'is a host option: pruning covers the whole cacheDir. Set cachePruneInterval on createHost() instead.',
      );
    }
    const value: unknown = raw.cachePruneInterval;
    if (value !== false && (typeof value !== 'number' || !Number.isFinite(value) || value < 0)) {
      invalid(
        'cachePruneInterval',
        `must be a number of ms (0: prune after every new manifest) or false (never prune), got ${JSON.stringify(value)}.`,
      );
    }
    cachePruneInterval = value;
  }
  return Object.freeze({
    connectTimeout: number(raw.connectTimeout, `${where}connectTimeout`, base.connectTimeout),
    headersTimeout: number(raw.headersTimeout, `${where}headersTimeout`, base.headersTimeout),
    bodyTimeout: number(raw.bodyTimeout, `${where}bodyTimeout`, base.bodyTimeout),
    importTimeout: number(raw.importTimeout, `${where}importTimeout`, base.importTimeout),
    retry: Object.freeze(retry),
    breaker: breaker && Object.freeze(breaker),
    staleIfError: raw.staleIfError ?? base.staleIfError,
    cacheVersions: raw.cacheVersions ?? base.cacheVersions,
    cachePruneInterval,
  });
}

/** A remote's fallbacks, by expose key (`*` for every expose), each a loader. */
export type ResolvedFallbacks = ReadonlyMap<string, (exposeKey: string) => Promise<unknown>>;

/**
 * Resolves `remotes.<alias>.fallback`: one local module for every expose, or an object of them by expose key.
 *
 * @example
 * ```ts
 * resolveFallbacks({ './tokenValidator': () => import('./local-validator.js') }, 'remotes.authService.fallback', root);
 * ```
 */
export function resolveFallbacks(raw: unknown, option: string, root: string): ResolvedFallbacks {
  const out = new Map<string, (exposeKey: string) => Promise<unknown>>();
  if (raw === undefined) return out;
  const loader = (value: unknown, where: string) => {
    if (typeof value === 'function') return async (key: string) => (value as (key: string) => unknown)(key);
    if (typeof value === 'string' && value !== '') {
      const href = /^[a-z][a-z0-9+.-]*:/i.test(value)
        ? value
        : pathToFileURL(isAbsolute(value) ? value : resolve(root, value)).href;
      return async () => import(href);
    }
    return invalid(where, 'must be a module path (relative to `root`) or a function that imports the local module.');
  };
  if (typeof raw === 'object' && raw !== null) {
    for (const [key, value] of Object.entries(raw)) {
      if (key !== '.' && !key.startsWith('./'))
        invalid(`${option}`, `has key ${JSON.stringify(key)}; use expose keys such as "./tokenValidator".`);
      out.set(key, loader(value, `${option}["${key}"]`));
    }
  } else out.set('*', loader(raw, option));
  return out;
}
