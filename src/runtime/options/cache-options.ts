/**
 * The `cache` options: where the host keeps what it verified (`dir`, host only), how many versions of each remote it
 * keeps there (`versions`), how often it prunes (`pruneInterval`, host only) and whether it serves the cached copy
 * when a remote is unavailable (`staleIfError`). A remote may override `versions` and `staleIfError`.
 */
import { resolve } from 'node:path';
import { child, flag, hostOnly, invalid, section } from './checks.ts';

/** The disk cache and stale-if-error. */
export interface CacheOptions {
  /**
   * Host option. The host's private cache folder: verified files, each remote's last manifests, and the highest
   * release accepted per remote (rollback protection across restarts). Default: `$FERRY_CACHE_DIR`, else
   * `.ferry-cache` under `root`; a relative path is resolved against `root`. Only the host's user should be able to
   * write it.
   */
  dir?: string;
  /**
   * How many versions of a remote the cache keeps, each with its files (a whole number, at least 1; default 3), so a
   * restart right after an update can still start from the previous version.
   */
  versions?: number;
  /**
   * Host option. The least time between two prunings of the cache, in ms (default 600 000; `0`: after every new
   * manifest; `false`: never). Pruning removes files no remote's kept versions reference, older than ten minutes.
   */
  pruneInterval?: number | false;
  /** Serve the last verified copy from the cache when the remote is unavailable (default true). */
  staleIfError?: boolean;
}

export interface ResolvedRemoteCache {
  versions: number;
  staleIfError: boolean;
}

export interface ResolvedHostCache extends ResolvedRemoteCache {
  /** Absolute path of the cache folder. */
  dir: string;
  /** `false`: never prune. */
  pruneInterval: number | false;
}

/** The options of earlier ferry versions that now live under `cache`. */
export const MOVED_CACHE: Readonly<Record<string, string>> = {
  cacheDir: 'cache.dir',
  cacheVersions: 'cache.versions',
  cachePruneInterval: 'cache.pruneInterval',
  staleIfError: 'cache.staleIfError',
};

/** Keys a remote cannot override, and why. */
const HOST_ONLY: Readonly<Record<string, string>> = {
  dir: 'is a host option: a host has one cache folder. Set cache.dir on createHost() instead.',
  pruneInterval:
    'is a host option: pruning covers the whole cache folder. Set cache.pruneInterval on createHost() instead.',
};

function versions(value: unknown, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    invalid(
      option,
      `must be a whole number of at least 1 (the versions of the remote kept in the cache folder), got ${String(value)}.`,
    );
  }
  return value;
}

/** The host's `cache`: every key, with `dir` made absolute against `root`. */
export function resolveHostCache(raw: unknown, root: string): ResolvedHostCache {
  const value = section(raw, 'cache', { known: ['dir', 'versions', 'pruneInterval', 'staleIfError'] });
  const dir = value['dir'];
  if (dir !== undefined && (typeof dir !== 'string' || dir === '')) invalid('cache.dir', 'must be a folder path.');
  const interval = value['pruneInterval'];
  if (interval !== undefined && interval !== false) {
    if (typeof interval !== 'number' || !Number.isFinite(interval) || interval < 0) {
      invalid(
        'cache.pruneInterval',
        `must be a number of ms (0: prune after every new manifest) or false (never prune), got ${JSON.stringify(interval)}.`,
      );
    }
  }
  return Object.freeze({
    dir: resolve(root, (dir as string | undefined) ?? (process.env['FERRY_CACHE_DIR'] || '.ferry-cache')),
    versions: versions(value['versions'], 'cache.versions', 3),
    pruneInterval: (interval as number | false | undefined) ?? 600_000,
    staleIfError: flag(value['staleIfError'], 'cache.staleIfError', true),
  });
}

/** A remote's `cache` (at `where`, `remotes.<alias>`): `versions` and `staleIfError` over the host's. */
export function resolveRemoteCache(raw: unknown, where: string, host: ResolvedRemoteCache): ResolvedRemoteCache {
  const option = child(where, 'cache');
  hostOnly(raw, option, HOST_ONLY);
  const value = section(raw, option, { known: ['versions', 'staleIfError'] });
  return Object.freeze({
    versions: versions(value['versions'], `${option}.versions`, host.versions),
    staleIfError: flag(value['staleIfError'], `${option}.staleIfError`, host.staleIfError),
  });
}
