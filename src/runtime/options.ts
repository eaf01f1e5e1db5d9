/**
 * Host options: validated once at the boundary (unknown keys rejected by name), normalised, then frozen.
 */
import { resolve } from 'node:path';
import { InvalidOptionError } from '../common/errors.ts';
import { MANIFEST_FILE, parsePublicKey, REMOTE_NAME } from '../manifest/index.ts';
import {
  AVAILABILITY_KEYS,
  type AvailabilityOptions,
  type LocalFallback,
  type ResolvedAvailability,
  type ResolvedFallbacks,
  resolveAvailability,
  resolveFallbacks,
} from './availability-options.ts';
import {
  LIVE_HOST_KEYS,
  LIVE_REMOTE_KEYS,
  type LiveHostOptions,
  type LiveRemoteOptions,
  type ResolvedLiveHost,
  type ResolvedLiveRemote,
  resolveLiveHost,
  resolveLiveRemote,
} from './live-options.ts';
import { requireSecureTransport, resolveAllowedOrigins } from './origins.ts';
import type { FetchLike } from './transport.ts';

/** One remote as the host configures it (plus its own deadlines, retries, breaker and stale-if-error). */
export interface RemoteOptions extends AvailabilityOptions, LiveRemoteOptions {
  /** The remote's `mf-manifest.json` URL (a folder URL ending in `/` or a `remoteEntry.js` URL also work). */
  url: string;
  /** The remote's name in its manifest, when the key under `remotes` is an alias. Defaults to the key. */
  name?: string;
  /** Public key(s) from `ferry keygen`; when set, the manifest must carry a valid signature by one of them. */
  publicKey?: string | string[];
  /** Per-request deadline for this remote, in milliseconds. */
  timeout?: number;
  /**
   * A local module to use when neither the remote nor the cache can serve an expose: a module path (relative to
   * `root`) or a function that imports it, for every expose, or an object of them by expose key.
   */
  fallback?: LocalFallback | Record<string, LocalFallback>;
}

/** A shared package the host provides and consumes (Module Federation option names). */
export interface HostSharedOptions {
  singleton?: boolean;
  requiredVersion?: string | false;
  strictVersion?: boolean;
  eager?: boolean;
  /** The version the host provides; read from the installed package when omitted. */
  version?: string;
  /** `false`: provide nothing, only consume what remotes provide. */
  import?: false;
  /** The share scope the host provides it in. Default `'default'`. */
  shareScope?: string;
  /** The installed package that gives `version` (and the `requiredVersion` default), if not the key's package. */
  packageName?: string;
}

/** Options of {@link createHost}. */
export interface HostOptions extends AvailabilityOptions, LiveHostOptions {
  /** The host's name, used in messages and as `from` in the share scope. */
  name: string;
  /** Remotes by the name used in specifiers: `{ url }` or Module Federation's `'name@url'` shorthand. */
  remotes: Record<string, RemoteOptions | string>;
  /** Packages the host shares: installed packages it provides to remotes (resolved from `root`). */
  shared?: Record<string, HostSharedOptions> | string[];
  /** Deadline of each request, in milliseconds (default 10 000). */
  timeout?: number;
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
   * The host's private cache folder, where it persists the highest release it accepted per remote so a rollback is
   * refused after a restart too (default: `$FERRY_CACHE_DIR`, else `.ferry-cache` under `root`; a relative path is
   * resolved against `root`). Only the host's user should be able to write it.
   */
  cacheDir?: string;
  /**
   * Origins the host may fetch from besides those of its remotes' URLs (for example a CDN a remote redirects its
   * files to): `['https://cdn.example.com']`. Redirects to any other origin are refused.
   */
  allowedOrigins?: string[];
  /** Allow plain `http:` to hosts that are not loopback (default false: only https, or http on loopback). */
  allowInsecureHttp?: boolean;
  /**
   * A fetch implementation every manifest, file and event-stream request goes through (a proxy, mTLS, extra
   * headers). Default: ferry's own node:http client (http-client.ts), which does not load undici.
   */
  fetch?: FetchLike;
  /** The clock, for manifest expiry (default `Date.now`). */
  now?: () => number;
  /** Receives warnings (default: `process.emitWarning`). */
  onWarning?: (warning: { code: string; message: string; remote?: string }) => void;
  /**
   * How shared versions are chosen (Module Federation's `shareStrategy`): `'version-first'` (default) loads every
   * remote's manifest before choosing, so the highest version provided wins; `'loaded-first'` reuses a copy already
   * loaded and considers only the remotes loaded so far.
   */
  shareStrategy?: 'version-first' | 'loaded-first';
}

export interface ResolvedRemote {
  alias: string;
  name: string;
  manifestUrl: string;
  publicKeys: string[];
  timeout: number;
  /** Deadlines, retries, breaker and stale-if-error for this remote. */
  availability: ResolvedAvailability;
  /** Local modules used when the remote and the cache cannot serve an expose. */
  fallbacks: ResolvedFallbacks;
  /** Version range, polling and push for this remote (live-options.ts). */
  live: ResolvedLiveRemote;
}

export interface ResolvedHostOptions {
  name: string;
  remotes: ReadonlyMap<string, ResolvedRemote>;
  shared: Readonly<
    Record<string, Required<Pick<HostSharedOptions, 'singleton' | 'strictVersion' | 'eager'>> & HostSharedOptions>
  >;
  timeout: number;
  maxManifestBytes: number;
  root: string;
  requireSignatures: boolean;
  /** Absolute path of the host's cache folder. */
  cacheDir: string;
  /** Every origin the host may fetch from: its remotes' and `allowedOrigins`. */
  origins: ReadonlySet<string>;
  fetch: FetchLike | undefined;
  now: () => number;
  onWarning: NonNullable<HostOptions['onWarning']>;
  shareStrategy: 'version-first' | 'loaded-first';
  /** Detection defaults, health check, drain time and update listener (live-options.ts). */
  live: ResolvedLiveHost;
}

const HOST_KEYS = [
  'name',
  'remotes',
  'shared',
  'timeout',
  'maxManifestBytes',
  'root',
  'requireSignatures',
  'cacheDir',
  'allowedOrigins',
  'allowInsecureHttp',
  'fetch',
  'now',
  'onWarning',
  'shareStrategy',
  ...AVAILABILITY_KEYS,
  ...LIVE_HOST_KEYS,
];
const REMOTE_KEYS = ['url', 'name', 'publicKey', 'timeout', 'fallback', ...AVAILABILITY_KEYS, ...LIVE_REMOTE_KEYS];
const SHARED_KEYS = [
  'singleton',
  'requiredVersion',
  'strictVersion',
  'eager',
  'version',
  'import',
  'shareScope',
  'packageName',
];

function invalid(option: string, message: string): never {
  throw new InvalidOptionError(`createHost: ${option} ${message}`, { option });
}

function rejectUnknown(value: object, allowed: string[], where: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      invalid(`${where}${where ? '.' : ''}${key}`, `is not an option; the options are ${allowed.join(', ')}.`);
    }
  }
}

function positive(value: unknown, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    invalid(option, `must be a positive number of milliseconds, got ${String(value)}.`);
  }
  return value;
}

function flag(value: unknown, option: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') invalid(option, `must be true or false, got ${JSON.stringify(value)}.`);
  return value;
}

/** Turns a remote URL into its manifest URL; checks it is http(s). */
export function manifestUrlOf(raw: string, option: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return invalid(
      option,
      `must be an absolute http(s) URL of the remote's ${MANIFEST_FILE}, got ${JSON.stringify(raw)}.`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    invalid(option, `must use http: or https:, got ${url.protocol} in ${raw}.`);
  }
  if (url.username || url.password) invalid(option, 'must not contain credentials.');
  if (url.pathname.endsWith('/')) return new URL(MANIFEST_FILE, url).href;
  if (url.pathname.endsWith('.js')) return new URL(MANIFEST_FILE, url).href;
  return url.href;
}

/** What every remote is checked against: the host-wide defaults and policies. */
interface RemoteDefaults {
  timeout: number;
  availability: ResolvedAvailability;
  root: string;
  requireSignatures: boolean;
  allowInsecureHttp: boolean;
  live: ResolvedLiveHost;
}

function resolveRemote(alias: string, raw: unknown, defaults: RemoteDefaults): ResolvedRemote {
  const where = `remotes.${alias}`;
  if (!REMOTE_NAME.test(alias)) invalid(where, 'must be named like a JavaScript identifier (letters, digits, _ or $).');
  if (typeof raw === 'string') {
    if (/^https?:\/\//i.test(raw)) return resolveRemote(alias, { url: raw }, defaults);
    const at = raw.indexOf('@');
    if (at <= 0) invalid(where, `must be { url }, a URL, or "name@url", got ${JSON.stringify(raw)}.`);
    return resolveRemote(alias, { name: raw.slice(0, at), url: raw.slice(at + 1) }, defaults);
  }
  if (typeof raw !== 'object' || raw === null) invalid(where, 'must be { url } or "name@url".');
  rejectUnknown(raw, REMOTE_KEYS, where);
  const options = raw as RemoteOptions;
  if (typeof options.url !== 'string') invalid(`${where}.url`, 'is required: the URL of the remote manifest.');
  const name = options.name ?? alias;
  if (typeof name !== 'string' || !REMOTE_NAME.test(name)) invalid(`${where}.name`, 'must be a remote name.');
  const keys = options.publicKey === undefined ? [] : [options.publicKey].flat();
  keys.forEach((key, index) => {
    if (typeof key !== 'string') invalid(`${where}.publicKey`, 'must be a string or a list of strings.');
    parsePublicKey(key, `remotes.${alias}.publicKey${keys.length > 1 ? `[${index}]` : ''}`);
  });
  const manifestUrl = manifestUrlOf(options.url, `${where}.url`);
  requireSecureTransport(new URL(manifestUrl), `${where}.url`, defaults.allowInsecureHttp);
  if (defaults.requireSignatures && keys.length === 0) {
    invalid(
      `${where}.publicKey`,
      `is missing, and the host sets requireSignatures: true, so remote "${alias}" (${manifestUrl}) would load ` +
        "unsigned. Pin the public key printed by `ferry keygen` for that remote's signing key (and build it with " +
        '`ferry build --sign`).',
    );
  }
  return {
    alias,
    name,
    manifestUrl,
    publicKeys: keys,
    timeout: positive(options.timeout, `${where}.timeout`, defaults.timeout),
    availability: resolveAvailability(options, `${where}.`, defaults.availability),
    fallbacks: resolveFallbacks(options.fallback, `${where}.fallback`, defaults.root),
    live: resolveLiveRemote(options, where, defaults.live),
  };
}

function resolveShared(raw: unknown): ResolvedHostOptions['shared'] {
  const out: Record<string, ResolvedHostOptions['shared'][string]> = Object.create(null);
  if (raw === undefined) return out;
  const entries: Array<[string, unknown]> = Array.isArray(raw)
    ? raw.map((pkg) => [pkg, {}])
    : typeof raw === 'object' && raw !== null
      ? Object.entries(raw)
      : invalid('shared', 'must be an object of package names to options, or a list of package names.');
  for (const [pkg, value] of entries) {
    const where = `shared.${pkg}`;
    if (
      typeof pkg !== 'string' ||
      !/^(@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*(\/[a-z0-9@~_.-]+)*\/?$/.test(pkg)
    ) {
      invalid(
        'shared',
        `has ${JSON.stringify(pkg)}, which is not an npm package name, a deep import ("lodash/fp") or a prefix ending in "/" ("lodash/").`,
      );
    }
    if (typeof value !== 'object' || value === null) invalid(where, 'must be an object of options.');
    rejectUnknown(value, SHARED_KEYS, where);
    const options = value as HostSharedOptions;
    for (const flag of ['singleton', 'strictVersion', 'eager'] as const) {
      if (options[flag] !== undefined && typeof options[flag] !== 'boolean')
        invalid(`${where}.${flag}`, 'must be true or false.');
    }
    if (options.import !== undefined && options.import !== false) invalid(`${where}.import`, 'can only be false.');
    for (const text of ['shareScope', 'packageName', 'version'] as const) {
      if (options[text] !== undefined && (typeof options[text] !== 'string' || options[text] === '')) {
        invalid(`${where}.${text}`, 'must be a non-empty string.');
      }
    }
    if (
      options.requiredVersion !== undefined &&
      options.requiredVersion !== false &&
      typeof options.requiredVersion !== 'string'
    ) {
      invalid(`${where}.requiredVersion`, 'must be a semver range such as "^9.0.0", or false.');
    }
    out[pkg] = Object.freeze({
      ...options,
      singleton: options.singleton ?? false,
      strictVersion: options.strictVersion ?? false,
      eager: options.eager ?? false,
    });
  }
  return Object.freeze(out);
}

function resolveStrategy(raw: unknown): ResolvedHostOptions['shareStrategy'] {
  if (raw === undefined) return 'version-first';
  if (raw !== 'version-first' && raw !== 'loaded-first') {
    invalid('shareStrategy', `must be "version-first" or "loaded-first", got ${JSON.stringify(raw)}.`);
  }
  return raw;
}

/** Validates and freezes host options. */
export function resolveHostOptions(options: HostOptions): ResolvedHostOptions {
  if (typeof options !== 'object' || options === null) invalid('options', 'must be an object.');
  rejectUnknown(options, HOST_KEYS, '');
  if (typeof options.name !== 'string' || !REMOTE_NAME.test(options.name)) {
    invalid('name', 'is required and must be named like a JavaScript identifier, e.g. "userService".');
  }
  if (typeof options.remotes !== 'object' || options.remotes === null) {
    invalid(
      'remotes',
      "is required: an object such as { authService: 'authService@http://127.0.0.1:3001/mf-manifest.json' }.",
    );
  }
  const timeout = positive(options.timeout, 'timeout', 10_000);
  const requireSignatures = flag(options.requireSignatures, 'requireSignatures');
  const allowInsecureHttp = flag(options.allowInsecureHttp, 'allowInsecureHttp');
  const availability = resolveAvailability(options, '');
  const live = resolveLiveHost(options);
  const root = options.root ?? process.cwd();
  const remotes = new Map<string, ResolvedRemote>();
  for (const [alias, raw] of Object.entries(options.remotes)) {
    remotes.set(
      alias,
      resolveRemote(alias, raw, { timeout, requireSignatures, allowInsecureHttp, availability, root, live }),
    );
  }
  const origins = new Set(resolveAllowedOrigins(options.allowedOrigins, allowInsecureHttp));
  for (const remote of remotes.values()) origins.add(new URL(remote.manifestUrl).origin);
  if (options.fetch !== undefined && typeof options.fetch !== 'function') invalid('fetch', 'must be a function.');
  if (options.now !== undefined && typeof options.now !== 'function') invalid('now', 'must be a function.');
  if (options.onWarning !== undefined && typeof options.onWarning !== 'function')
    invalid('onWarning', 'must be a function.');
  if (options.root !== undefined && typeof options.root !== 'string') invalid('root', 'must be a folder path.');
  if (options.cacheDir !== undefined && (typeof options.cacheDir !== 'string' || options.cacheDir === '')) {
    invalid('cacheDir', 'must be a folder path.');
  }
  return Object.freeze({
    name: options.name,
    remotes,
    shared: resolveShared(options.shared),
    shareStrategy: resolveStrategy(options.shareStrategy),
    live,
    timeout,
    maxManifestBytes: positive(options.maxManifestBytes, 'maxManifestBytes', 1 << 20),
    root,
    requireSignatures,
    cacheDir: resolve(root, options.cacheDir ?? (process.env['FERRY_CACHE_DIR'] || '.ferry-cache')),
    origins,
    fetch: options.fetch,
    now: options.now ?? Date.now,
    onWarning:
      options.onWarning ??
      ((warning) => process.emitWarning(warning.message, { type: 'FerryWarning', code: warning.code })),
  });
}
