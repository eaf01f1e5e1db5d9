/**
 * `createHost()`'s options: validated once at the boundary (unknown keys rejected by name with "did you mean", keys of
 * earlier ferry versions with the name they moved to), normalised, then frozen. Grouped by what they tune:
 * `timeouts`, `retry`, `breaker` (network-options.ts), `cache` (cache-options.ts), `live` (live-options.ts),
 * `shared` (shared-options.ts); each remote may override the first five (remote-options.ts).
 */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { FerryWarning } from '../../common/warnings.ts';
import { REMOTE_NAME } from '../../manifest/index.ts';
import type { FetchLike } from '../net/fetch-bytes.ts';
import { resolveAllowedOrigins } from '../net/origins.ts';
import { type CacheOptions, MOVED_CACHE, type ResolvedHostCache, resolveHostCache } from './cache-options.ts';
import { atLeast, flag, invalid, optionalFunction, topLevel } from './checks.ts';
import { type LiveHostOptions, MOVED_LIVE, type ResolvedLiveHost, resolveLiveHost } from './live-options.ts';
import {
  MOVED_TIMEOUTS,
  NETWORK_KEYS,
  type NetworkOptions,
  type ResolvedNetwork,
  resolveNetwork,
} from './network-options.ts';
import {
  LOCK_FILE,
  type RemoteDefaults,
  type RemoteOptions,
  type ResolvedRemote,
  resolveRemote,
} from './remote-options.ts';
import { type HostSharedOptions, type ResolvedShared, resolveShared } from './shared-options.ts';

/** Options of {@link createHost}. */
export interface HostOptions extends NetworkOptions {
  /** The host's name, used in messages and as `from` in the share scope. */
  name: string;
  /** Remotes by the name used in specifiers: `{ url, … }` or Module Federation's `'name@url'` shorthand. */
  remotes: Record<string, RemoteOptions | string>;
  /** Packages the host shares: installed packages it provides to remotes (resolved from `root`). */
  shared?: Record<string, HostSharedOptions> | string[];
  /** The disk cache: `{ dir, versions, pruneInterval, staleIfError }`. */
  cache?: CacheOptions;
  /** Live updates: `{ pollInterval, push, healthCheck, drainTimeout, onUpdate }`. */
  live?: LiveHostOptions;
  /** Largest manifest accepted, in bytes (default 1 MiB). */
  maxManifestBytes?: number;
  /** Folder whose node_modules provide the host's shared packages (default `process.cwd()`). */
  root?: string;
  /**
   * Production mode: every remote must pin a `publicKey`, and createHost throws for one that does not. Without it an
   * unsigned remote loads with a warning (its files are still checked against its manifest).
   */
  requireSignatures?: boolean;
  /**
   * Origins the host may fetch from besides those of its remotes' URLs (for example a CDN a remote redirects its
   * files to): `['https://cdn.example.com']`. Redirects to any other origin are refused.
   */
  allowedOrigins?: string[];
  /** Allow plain `http:` to hosts that are not loopback (default false: only https, or http on loopback). */
  allowInsecureHttp?: boolean;
  /**
   * A fetch implementation every manifest, file and event-stream request goes through (a proxy, mTLS, extra
   * headers). Default: ferry's own node:http client, which does not load undici.
   */
  fetch?: FetchLike;
  /** The clock, for manifest expiry (default `Date.now`). */
  now?: () => number;
  /**
   * This host's stable identity, which decides its bucket in a channel's rollout (the same on every restart, so a host
   * keeps its assignment). Default: `$FERRY_HOST_ID`, else the machine's host name and the host's `name`.
   */
  hostId?: string;
  /** Receives warnings (default: `process.emitWarning`); `code` is one of `warningCodes`. */
  onWarning?: (warning: FerryWarning) => void;
  /**
   * How shared versions are chosen (Module Federation's `shareStrategy`): `'version-first'` (default) loads every
   * remote's manifest before choosing, so the highest version provided wins; `'loaded-first'` reuses a copy already
   * loaded and considers only the remotes loaded so far.
   */
  shareStrategy?: 'version-first' | 'loaded-first';
  /**
   * The lock file that pins the bytes of Module Federation remotes (`type: 'module-federation'`), written by
   * `ferry lock` and committed with the host's code (default `<root>/ferry.lock`). Read again at every load and check.
   */
  lockFile?: string;
}

export interface ResolvedHostOptions extends RemoteDefaults {
  readonly name: string;
  /** The remotes configured at creation (the running set is the host's remote registry). */
  readonly remotes: readonly ResolvedRemote[];
  readonly shared: Readonly<Record<string, ResolvedShared>>;
  readonly shareStrategy: 'version-first' | 'loaded-first';
  readonly cache: ResolvedHostCache;
  readonly live: ResolvedLiveHost;
  readonly maxManifestBytes: number;
  /** `allowedOrigins`, normalised (the remotes' own origins are added by the registry). */
  readonly allowedOrigins: readonly string[];
  readonly fetch: FetchLike | undefined;
  readonly now: () => number;
  readonly hostId: string;
  readonly onWarning: (warning: FerryWarning) => void;
}

const HOST_KEYS = [
  'name',
  'remotes',
  'shared',
  'cache',
  'live',
  'maxManifestBytes',
  'root',
  'requireSignatures',
  'allowedOrigins',
  'allowInsecureHttp',
  'fetch',
  'now',
  'hostId',
  'onWarning',
  'shareStrategy',
  'lockFile',
  ...NETWORK_KEYS,
];

const MOVED_HOST_KEYS: Readonly<Record<string, string>> = { ...MOVED_TIMEOUTS, ...MOVED_CACHE, ...MOVED_LIVE };

function resolveStrategy(raw: unknown): ResolvedHostOptions['shareStrategy'] {
  if (raw === undefined) return 'version-first';
  if (raw !== 'version-first' && raw !== 'loaded-first') {
    invalid('shareStrategy', `must be "version-first" or "loaded-first", got ${JSON.stringify(raw)}.`);
  }
  return raw;
}

const emitWarning = (warning: FerryWarning) =>
  process.emitWarning(warning.message, { type: 'FerryWarning', code: warning.code });

function resolveHostId(raw: unknown, name: string): string {
  if (raw !== undefined && (typeof raw !== 'string' || raw.trim() === '')) {
    invalid('hostId', `must be a non-empty string, got ${JSON.stringify(raw)}.`);
  }
  return (raw as string | undefined) ?? (process.env['FERRY_HOST_ID'] || `${hostname()}/${name}`);
}

/** Validates and freezes host options. */
function resolveLockFile(raw: unknown, root: string): string {
  if (raw !== undefined && (typeof raw !== 'string' || raw === '')) invalid('lockFile', 'must be a file path.');
  return resolve(root, (raw as string | undefined) ?? LOCK_FILE);
}

export function resolveHostOptions(options: HostOptions): ResolvedHostOptions {
  if (typeof options !== 'object' || options === null) invalid('options', 'must be an object.');
  topLevel(options as unknown as Record<string, unknown>, { known: HOST_KEYS, moved: MOVED_HOST_KEYS });
  if (typeof options.name !== 'string' || !REMOTE_NAME.test(options.name)) {
    invalid('name', 'is required and must be named like a JavaScript identifier, e.g. "userService".');
  }
  if (typeof options.remotes !== 'object' || options.remotes === null) {
    invalid(
      'remotes',
      "is required: an object such as { authService: 'authService@http://127.0.0.1:3001/mf-manifest.json' }.",
    );
  }
  if (options.root !== undefined && typeof options.root !== 'string') invalid('root', 'must be a folder path.');
  const root = options.root ?? process.cwd();
  const allowInsecureHttp = flag(options.allowInsecureHttp, 'allowInsecureHttp', false);
  const network: ResolvedNetwork = resolveNetwork(options, '');
  const cache = resolveHostCache(options.cache, root);
  const live = resolveLiveHost(options.live);
  const defaults: RemoteDefaults = {
    ...network,
    root,
    requireSignatures: flag(options.requireSignatures, 'requireSignatures', false),
    allowInsecureHttp,
    cache,
    live,
    lockFile: resolveLockFile(options.lockFile, root),
  };
  const remotes = Object.entries(options.remotes).map(([alias, raw]) => resolveRemote(alias, raw, defaults));
  return Object.freeze({
    ...defaults,
    cache,
    live,
    name: options.name,
    remotes: Object.freeze(remotes),
    shared: resolveShared(options.shared),
    shareStrategy: resolveStrategy(options.shareStrategy),
    maxManifestBytes: atLeast(options.maxManifestBytes, 'maxManifestBytes', 1 << 20, 1, 'a number of bytes'),
    allowedOrigins: Object.freeze(resolveAllowedOrigins(options.allowedOrigins, allowInsecureHttp)),
    fetch: optionalFunction<FetchLike>(options.fetch, 'fetch'),
    now: optionalFunction<() => number>(options.now, 'now') ?? Date.now,
    hostId: resolveHostId(options.hostId, options.name),
    onWarning: optionalFunction<(warning: FerryWarning) => void>(options.onWarning, 'onWarning') ?? emitWarning,
  });
}

/** A remote added or re-pointed at run time, validated exactly as createHost validates its remotes. */
export function resolveAddedRemote(host: ResolvedHostOptions, alias: string, raw: unknown): ResolvedRemote {
  return resolveRemote(alias, raw, host);
}
