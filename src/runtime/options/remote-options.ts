/**
 * One remote's options: where it is (`url`, its `name`), whom to trust for it (`publicKey`), the versions the host
 * accepts (`versionRange`), local fallbacks, and its own `timeouts`, `retry`, `breaker`, `cache` and `live` over the
 * host's. Validated once and frozen.
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isPlainObject } from '../../common/options.ts';
import * as semver from '../../common/semver.ts';
import {
  CHANNEL_NAME,
  MANIFEST_FILE,
  normalisePublicKey,
  REMOTE_NAME,
  type RemoteDependency,
} from '../../manifest/index.ts';
import { requireSecureTransport } from '../net/origins.ts';
import { type CacheOptions, MOVED_CACHE, type ResolvedRemoteCache, resolveRemoteCache } from './cache-options.ts';
import { invalid, section } from './checks.ts';
import { type LiveRemoteOptions, MOVED_LIVE, type ResolvedLiveRemote, resolveLiveRemote } from './live-options.ts';
import {
  MOVED_TIMEOUTS,
  NETWORK_KEYS,
  type NetworkOptions,
  type ResolvedNetwork,
  resolveNetwork,
} from './network-options.ts';

/** A local module to use instead of a remote one: a module path (relative to `root`) or a function that loads it. */
export type LocalFallback = string | ((exposeKey: string) => unknown);

/** One remote as the host configures it. */
export interface RemoteOptions extends NetworkOptions {
  /** The remote's `mf-manifest.json` URL (a folder URL ending in `/` or a `remoteEntry.js` URL also work). */
  url: string;
  /** The remote's name in its manifest, when the key under `remotes` is an alias. Defaults to the key. */
  name?: string;
  /** Public key(s) from `ferry keygen`; when set, the manifest must carry a valid signature by one of them. */
  publicKey?: string | string[];
  /** The semver range of the remote's versions this host accepts (`'^1'`); others are refused. */
  versionRange?: string;
  /**
   * Follow a channel of the remote (`'stable'`, `'canary'`): a signed pointer in its output folder
   * (`channels/<name>.json`, written by `ferry release promote`) says which of its kept releases this host gets. Needs
   * a pinned `publicKey`. Without it, the host takes whatever `mf-manifest.json` is.
   */
  channel?: string;
  /** With `channel`: take this release whatever the channel says (a smoke test of one host). */
  pin?: number;
  /**
   * The exposes this host uses (`['./tokenValidator']`): a live update that the remote marked breaking only in
   * other exposes is not refused for it. Default: every expose counts.
   */
  uses?: string[];
  /** This remote's cache settings: `versions` and `staleIfError` (the folder and pruning are the host's). */
  cache?: Pick<CacheOptions, 'versions' | 'staleIfError'>;
  /** How this remote's new versions are detected: `pollInterval`, `push`. */
  live?: LiveRemoteOptions;
  /**
   * A local module to use when neither the remote nor the cache can serve an expose: a module path (relative to
   * `root`) or a function that imports it, for every expose, or an object of them by expose key.
   */
  fallback?: LocalFallback | Record<string, LocalFallback>;
  /**
   * `'module-federation'`: the remote is built by webpack or rspack with Module Federation (`url` is its
   * `mf-manifest.json` or its `remoteEntry.js`). Its bytes must be pinned in the host's lock file (`ferry lock`).
   * Default `'ferry'`.
   */
  type?: 'ferry' | 'module-federation';
  /**
   * Only with `type: 'module-federation'`: load the remote without a lock entry, whatever bytes it serves (every load
   * warns `FERRY_UNPINNED_REMOTE`). For development; never the default.
   */
  unpinned?: boolean;
}

/** A remote's fallbacks, by expose key (`*` for every expose), each a loader. */
export type ResolvedFallbacks = ReadonlyMap<string, (exposeKey: string) => Promise<unknown>>;

export interface ResolvedRemote extends ResolvedNetwork {
  readonly alias: string;
  readonly name: string;
  readonly manifestUrl: string;
  readonly publicKeys: readonly string[];
  readonly versionRange: string | undefined;
  /** The channel the host follows, and a release it is pinned to. */
  readonly channel: string | undefined;
  readonly pin: number | undefined;
  /** The expose keys the host uses, or undefined for all of them. */
  readonly uses: readonly string[] | undefined;
  readonly cache: ResolvedRemoteCache;
  readonly live: ResolvedLiveRemote;
  /** Local modules used when the remote and the cache cannot serve an expose. */
  readonly fallbacks: ResolvedFallbacks;
  /** `module-federation`: a webpack/rspack Module Federation remote, checked against the lock file (mf/). */
  readonly type: 'ferry' | 'module-federation';
  /** A Module Federation remote loaded without a lock entry (`unpinned: true`). */
  readonly unpinned: boolean;
  /** The host's lock file (`lockFile`, default `<root>/ferry.lock`). */
  readonly lockFile: string;
  /** The host's `root`: where Module Federation's runtime packages a container requires are installed. */
  readonly root: string;
}

/** What every remote is resolved over: the host's values and policies. */
export interface RemoteDefaults extends ResolvedNetwork {
  root: string;
  requireSignatures: boolean;
  allowInsecureHttp: boolean;
  cache: ResolvedRemoteCache;
  live: ResolvedLiveRemote;
  /** The host's lock file, for Module Federation remotes. */
  lockFile?: string;
}

const REMOTE_KEYS = [
  'url',
  'name',
  'publicKey',
  'versionRange',
  'channel',
  'pin',
  'uses',
  'fallback',
  'cache',
  'live',
  'type',
  'unpinned',
  ...NETWORK_KEYS,
];
const MOVED_REMOTE_KEYS: Readonly<Record<string, string>> = {
  ...MOVED_TIMEOUTS,
  cacheVersions: MOVED_CACHE['cacheVersions']!,
  staleIfError: MOVED_CACHE['staleIfError']!,
  pollInterval: MOVED_LIVE['pollInterval']!,
  push: MOVED_LIVE['push']!,
  version: 'versionRange',
};

/**
 * The options of a remote another remote uses, as its manifest's `remotes` entry names it (URL, name, version range,
 * pinned keys): what the host's runtime and `ferry types` resolve for a nested remote the host does not configure.
 */
export function dependencyOptions(dependency: RemoteDependency): RemoteOptions & { url: string; name: string } {
  return {
    url: dependency.url,
    name: dependency.name,
    ...(dependency.versionRange === undefined ? {} : { versionRange: dependency.versionRange }),
    ...(dependency.publicKey === undefined ? {} : { publicKey: dependency.publicKey }),
  };
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
  if (url.pathname.endsWith('/') || url.pathname.endsWith('.js')) return new URL(MANIFEST_FILE, url).href;
  return url.href;
}

/** Validates one remote (`{ url, … }`, a URL, or MF's `'name@url'`) over the host's defaults, and freezes it. */
export function resolveRemote(alias: string, raw: unknown, defaults: RemoteDefaults): ResolvedRemote {
  const where = `remotes.${alias}`;
  if (!REMOTE_NAME.test(alias)) invalid(where, 'must be named like a JavaScript identifier (letters, digits, _ or $).');
  if (typeof raw === 'string') {
    if (/^https?:\/\//i.test(raw)) return resolveRemote(alias, { url: raw }, defaults);
    const at = raw.indexOf('@');
    if (at <= 0) invalid(where, `must be { url }, a URL, or "name@url", got ${JSON.stringify(raw)}.`);
    return resolveRemote(alias, { name: raw.slice(0, at), url: raw.slice(at + 1) }, defaults);
  }
  if (!isPlainObject(raw)) invalid(where, 'must be { url } or "name@url".');
  const options = section(raw, where, { known: REMOTE_KEYS, moved: MOVED_REMOTE_KEYS }) as Partial<RemoteOptions>;
  if (typeof options.url !== 'string') invalid(`${where}.url`, 'is required: the URL of the remote manifest.');
  const name = options.name ?? alias;
  if (typeof name !== 'string' || !REMOTE_NAME.test(name)) invalid(`${where}.name`, 'must be a remote name.');
  const given = options.publicKey === undefined ? [] : [options.publicKey].flat();
  if (Array.isArray(options.publicKey) && given.length === 0) {
    // An empty list would mean "unsigned": tampered code would then run with only a warning.
    invalid(
      `${where}.publicKey`,
      'is an empty list. Pin at least one key printed by `ferry keygen`, or leave publicKey out for an unsigned ' +
        'remote (which loads with a warning, and never under requireSignatures: true).',
    );
  }
  // Normalised (white space around a key read from a file or a variable dropped) or refused, here, once: a pinned
  // key that can never verify would refuse every good signature later.
  const keys = given.map((key, index) =>
    normalisePublicKey(key, `${where}.publicKey${given.length > 1 ? `[${index}]` : ''}`),
  );
  const type = options.type ?? 'ferry';
  if (type !== 'ferry' && type !== 'module-federation') {
    invalid(`${where}.type`, `must be "ferry" or "module-federation", got ${JSON.stringify(type)}.`);
  }
  const unpinned = options.unpinned ?? false;
  if (typeof unpinned !== 'boolean') invalid(`${where}.unpinned`, 'must be true or false.');
  if (unpinned && type !== 'module-federation') {
    invalid(
      `${where}.unpinned`,
      "applies only to Module Federation remotes (type: 'module-federation'); a ferry remote is checked against " +
        'its own manifest (and its signature when a publicKey is pinned).',
    );
  }
  const mf = type === 'module-federation';
  if (mf && (keys.length > 0 || options.channel !== undefined)) {
    invalid(
      `${where}.type`,
      "is 'module-federation', which carries no signature and no channels: its bytes are pinned in the host's lock " +
        'file (`ferry lock`). Remove publicKey and channel, or build the remote with `ferry build --sign`.',
    );
  }
  // A Module Federation remote's URL is its mf-manifest.json or its remoteEntry.js, used as given.
  const manifestUrl = mf ? mfUrlOf(options.url, `${where}.url`) : manifestUrlOf(options.url, `${where}.url`);
  requireSecureTransport(new URL(manifestUrl), `${where}.url`, defaults.allowInsecureHttp);
  if (mf && unpinned && defaults.requireSignatures) {
    invalid(
      `${where}.unpinned`,
      `is true, and the host sets requireSignatures: true: remote "${alias}" (${manifestUrl}) would run whatever ` +
        'bytes it serves. Pin it with `ferry lock` and remove `unpinned`.',
    );
  }
  if (defaults.requireSignatures && keys.length === 0 && !mf) {
    invalid(
      `${where}.publicKey`,
      `is missing, and the host sets requireSignatures: true, so remote "${alias}" (${manifestUrl}) would load ` +
        "unsigned. Pin the public key printed by `ferry keygen` for that remote's signing key (and build it with " +
        '`ferry build --sign`).',
    );
  }
  const range = options.versionRange;
  if (range !== undefined && (typeof range !== 'string' || !semver.isValidRange(range))) {
    invalid(`${where}.versionRange`, `must be a semver range such as "^1", got ${JSON.stringify(range)}.`);
  }
  const channel = options.channel;
  if (channel !== undefined && (typeof channel !== 'string' || !CHANNEL_NAME.test(channel))) {
    invalid(`${where}.channel`, `must be a channel name (letters, digits, - and _), got ${JSON.stringify(channel)}.`);
  }
  if (channel !== undefined && keys.length === 0) {
    invalid(
      `${where}.publicKey`,
      `is missing, and remote "${alias}" follows channel "${channel}": a channel is a signed pointer, and the host ` +
        'needs the key that signs it. Pin the public key printed by `ferry keygen`.',
    );
  }
  const pin = options.pin;
  if (
    pin !== undefined &&
    (channel === undefined || typeof pin !== 'number' || !Number.isSafeInteger(pin) || pin <= 0)
  ) {
    invalid(`${where}.pin`, 'must be a release number, and goes with `channel`.');
  }
  const uses = options.uses;
  if (
    uses !== undefined &&
    (!Array.isArray(uses) || uses.some((key) => typeof key !== 'string' || (key !== '.' && !key.startsWith('./'))))
  ) {
    invalid(
      `${where}.uses`,
      `must be a list of expose keys such as ["./tokenValidator"], got ${JSON.stringify(uses)}.`,
    );
  }
  return Object.freeze({
    alias,
    name,
    manifestUrl,
    publicKeys: Object.freeze([...keys]),
    versionRange: range,
    channel,
    pin,
    uses: uses === undefined ? undefined : Object.freeze([...uses]),
    ...resolveNetwork(options, where, defaults),
    cache: resolveRemoteCache(options.cache, where, defaults.cache),
    // A Module Federation remote has no push channel (`mf-manifest.events`): its manifest is polled.
    live: mf
      ? Object.freeze({ ...resolveLiveRemote(options.live, where, defaults.live), push: false })
      : resolveLiveRemote(options.live, where, defaults.live),
    fallbacks: resolveFallbacks(options.fallback, `${where}.fallback`, defaults.root),
    type,
    unpinned,
    lockFile: defaults.lockFile ?? resolve(defaults.root, LOCK_FILE),
    root: defaults.root,
  });
}

/** The default lock file name, in the host's `root`. */
export const LOCK_FILE = 'ferry.lock';

/** A Module Federation remote's URL: an absolute http(s) URL, used as given (its manifest or its container). */
function mfUrlOf(raw: string, option: string): string {
  const href = manifestUrlOf(raw, option);
  const url = new URL(raw);
  // manifestUrlOf turns a folder or a .js URL into mf-manifest.json beside it; a container URL is kept as it is.
  return url.pathname.endsWith('.js') ? url.href : href;
}

/** Resolves `remotes.<alias>.fallback`: one local module for every expose, or an object of them by expose key. */
function resolveFallbacks(raw: unknown, option: string, root: string): ResolvedFallbacks {
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
