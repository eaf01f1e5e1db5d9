/**
 * The container's side of Module Federation sharing, in the scope object the MF host passes to `init()`:
 *
 * - registering: each shared module the remote brings a copy of goes into the scope under its version, in MF 2.0's
 *   entry shape (`{ deps, from, get, lib, loaded, loading, scope, shareConfig, strategy, treeShaking, useIn, version }`,
 *   which webpack's older `{ get, from, eager, loaded }` readers also understand), following MF's rule for who wins a
 *   version several provide (a loaded copy stays; else eager wins; else the higher `from` name);
 * - taking: a singleton gets the loaded copy, or else the highest version (outside `requiredVersion`: a warning, or a
 *   SharedVersionError with `strictVersion`); anything else gets the highest version inside its range, or its own copy
 *   when none fits. The chosen entry is loaded once (its `loading` promise shared with everyone taking it meanwhile),
 *   marked `loaded`, and this remote is added to its `useIn`: a singleton is one instance across host and remote.
 */
import compare from 'semver/functions/compare.js';
import satisfies from 'semver/functions/satisfies.js';
import valid from 'semver/functions/valid.js';
import { SharedUnavailableError, SharedVersionError } from '../common/errors.ts';
import type { ContainerShared } from './types.ts';

/** A factory returns the module; `get()` resolves to a factory (MF's container contract). */
export type Factory = () => unknown;

/** One provided version, as MF 2.0 (all fields) or webpack's container runtime (`get`, `from`, `eager`, `loaded`) writes it. */
export interface ScopeEntry {
  get: () => Promise<Factory> | Factory;
  from?: string;
  eager?: boolean;
  loaded?: boolean | 0 | 1;
  lib?: Factory | null;
  loading?: Promise<Factory> | null;
  version?: string;
  useIn?: string[];
  shareConfig?: { singleton?: boolean; requiredVersion?: string | false; strictVersion?: boolean; eager?: boolean };
  [field: string]: unknown;
}

/** One share scope: package -> version -> entry. */
export type Scope = Record<string, Record<string, ScopeEntry>>;

const isLoaded = (entry: ScopeEntry) => Boolean(entry.loaded) || typeof entry.lib === 'function';

/** Orders versions like semver; a version that is not semver sorts below every one that is. */
function byVersion(a: string, b: string): number {
  const [va, vb] = [valid(a), valid(b)];
  if (va && vb) return compare(va, vb);
  return va ? 1 : vb ? -1 : a < b ? -1 : a > b ? 1 : 0;
}

const accepts = (range: string | false, version: string) =>
  range === false || range === '*' || (valid(version) !== null && satisfies(version, range));

/** Adds this remote's copy of `pkg` to `scope`, unless MF's rules keep the entry already there for that version. */
export function register(
  scope: Scope,
  pkg: string,
  config: ContainerShared,
  from: string,
  load: () => Promise<Factory>,
): void {
  if (!Object.hasOwn(scope, pkg)) scope[pkg] = {};
  const versions = scope[pkg]!;
  const existing = Object.hasOwn(versions, config.version) ? versions[config.version] : undefined;
  if (existing) {
    const existingEager = Boolean(existing.eager ?? existing.shareConfig?.eager);
    if (isLoaded(existing) || existing.loading) return;
    if (existingEager !== config.eager ? !config.eager : from <= (existing.from ?? '')) return;
  }
  versions[config.version] = {
    deps: [],
    from,
    get: load,
    lib: null,
    loaded: false,
    loading: null,
    eager: config.eager,
    scope: [config.shareScope],
    shareConfig: {
      singleton: config.singleton,
      requiredVersion: config.requiredVersion,
      strictVersion: config.strictVersion,
      eager: config.eager,
    },
    strategy: 'version-first',
    treeShaking: undefined,
    useIn: [],
    version: config.version,
  };
}

/** Which version of `pkg` this remote takes from `scope`, or `undefined` for its own copy. Throws when none may be used. */
export function choose(scope: Scope, pkg: string, config: ContainerShared, remote: string): string | undefined {
  const versions = Object.hasOwn(scope, pkg) ? (scope[pkg] ?? {}) : {};
  const all = Object.keys(versions).sort(byVersion);
  const own = config.fallback !== false;
  const range = config.requiredVersion;
  if (config.singleton) {
    const loaded = all.filter((version) => isLoaded(versions[version]!));
    const version = loaded.at(-1) ?? all.at(-1);
    if (version === undefined) {
      if (own) return undefined;
      throw unavailable(pkg, config, remote);
    }
    if (!accepts(range, version)) {
      const message =
        `Shared singleton ${pkg}: version ${version} from ${versions[version]!.from ?? 'the host'} is used, and ferry ` +
        `remote "${remote}" requires ${range} (strictVersion ${config.strictVersion ? 'on' : 'off'}).`;
      if (config.strictVersion) {
        throw new SharedVersionError(
          `${message} Align the versions: install a version in ${range} in the host, or widen the remote's requiredVersion.`,
          { remote, package: pkg },
        );
      }
      console.warn(`[ferry] ${message} A singleton is one instance, so the remote gets that version anyway.`);
    }
    return version;
  }
  const fitting = all.filter((version) => accepts(range, version));
  const version = fitting.at(-1);
  if (version !== undefined) return version;
  if (own) return undefined;
  if (all.length > 0 && !config.strictVersion) {
    const highest = all.at(-1)!;
    console.warn(
      `[ferry] Shared ${pkg}: no version in ${range} is provided for ferry remote "${remote}", which brings no copy ` +
        `(import: false); it gets ${highest} from ${versions[highest]!.from ?? 'the host'}.`,
    );
    return highest;
  }
  if (all.length > 0) {
    throw new SharedVersionError(
      `Shared ${pkg}: ferry remote "${remote}" requires ${range} with strictVersion, and the host provides only ` +
        `${all.join(', ')}; the remote brings no copy (import: false). Provide a version in ${range} from the host.`,
      { remote, package: pkg },
    );
  }
  throw unavailable(pkg, config, remote);
}

function unavailable(pkg: string, config: ContainerShared, remote: string): SharedUnavailableError {
  return new SharedUnavailableError(
    `Shared ${pkg} (${config.requiredVersion === false ? 'any version' : config.requiredVersion}) is provided by no one ` +
      `in share scope "${config.shareScope}", and ferry remote "${remote}" brings no copy of it (import: false). ` +
      `Share ${pkg} from the Module Federation host, or let the remote bundle its fallback copy.`,
    { remote, package: pkg },
  );
}

/** Loads a chosen entry once for everyone (MF 2.0's `loading`/`lib`), marks it loaded and records `remote` as a user. */
export async function take(entry: ScopeEntry, remote: string): Promise<Factory> {
  let factory: Factory;
  if (typeof entry.lib === 'function') factory = entry.lib;
  else if (entry.loading) factory = await entry.loading;
  else {
    const loading = Promise.resolve(entry.get());
    // MF 2.0 entries share their load through `loading` and keep the factory as `lib`; webpack's own only read `loaded`.
    const modern = 'lib' in entry || 'shareConfig' in entry;
    if (modern) entry.loading = loading;
    try {
      factory = await loading;
    } catch (error) {
      if (modern && entry.loading === loading) entry.loading = null;
      throw error;
    }
    if (modern) entry.lib = factory;
  }
  entry.loaded = true;
  if (Array.isArray(entry.useIn)) {
    if (!entry.useIn.includes(remote)) entry.useIn.push(remote);
  } else if ('shareConfig' in entry) entry.useIn = [remote];
  return factory;
}
