/**
 * A share scope: who provides which version of each shared module, and which one a consumer gets.
 *
 * The objects follow Module Federation's container contract (`scope[pkg][version] = { get, from, eager, loaded }`)
 * so that an MF container's `init(shareScope)` can take part. Resolution follows MF's rules:
 * - a singleton gets the version already loaded if there is one, else the highest provided; a version outside the
 *   consumer's `requiredVersion` is a warning, or a {@link SharedVersionError} with `strictVersion`;
 * - a non-singleton gets a version inside its range: the highest (`version-first`) or, with `loaded-first`, a loaded
 *   one if any is in range; when nothing provided fits, its own fallback copy.
 */
import { SharedUnavailableError, SharedVersionError } from '../../common/errors.ts';
import * as semver from '../../common/semver.ts';

/** One provided version of a shared module (MF container contract). */
export interface SharedProvider {
  /** Resolves to a factory that returns the module (MF contract: `get()` -> Promise<() => module>). */
  get(): Promise<() => unknown>;
  /** Who provides it (a host or remote name). */
  from: string;
  eager: boolean;
  /** Set once the module has been loaded by anyone; MF reads it (as a truthy value) for singletons. */
  loaded?: boolean | 1;
  /**
   * Module Federation 2's entry fields, which a webpack/rspack container's runtime reads when it takes a module from
   * the scope (without them it re-registers the entry under the version `"undefined"`). Set by {@link provide}.
   */
  version?: string;
  scope?: string[];
  shareConfig?: { singleton: boolean; requiredVersion: string | false; eager: boolean; strictVersion: boolean };
  deps?: string[];
  useIn?: string[];
  strategy?: ShareStrategy;
  loading?: Promise<unknown> | null;
}

/** One share scope: module name -> version -> provider. */
export type ShareScope = Record<string, Record<string, SharedProvider>>;

/**
 * How versions are chosen (Module Federation's `shareStrategy`). `version-first`: every remote's manifest is loaded
 * before the first shared module is chosen, so the highest version of all wins. `loaded-first`: only what is
 * provided so far counts, and a copy already loaded is reused rather than loading a newer one.
 */
export type ShareStrategy = 'version-first' | 'loaded-first';

/** What a consumer asks of a shared module. */
export interface SharedRequirement {
  requiredVersion: string | false;
  singleton: boolean;
  strictVersion: boolean;
}

/** Who asks, and what it brings itself. */
export interface Consumer {
  /** `remote "authService" (./tokenValidator)`. */
  name: string;
  /** The provider name of its own copy (its `from`), when it brings one. */
  own?: string;
  /** The version of its own copy, when it brings one. */
  ownVersion?: string;
  /** The scope's name, for messages. */
  scope: string;
}

export interface ShareResolution {
  version: string;
  from: string;
  /** Why this version was chosen, in words (`highest version provided`, `already loaded`, …). */
  reason: string;
  /** Set when the version is outside the consumer's range and that was accepted (`strictVersion` off). */
  warning?: string;
}

/** Creates an empty MF-shaped scope (a null-prototype object, so package names cannot collide with Object's keys). */
export function createShareScope(): ShareScope {
  return Object.create(null) as ShareScope;
}

/** What a provider declares about its module, for Module Federation's entry shape. */
export interface ProvidedConfig {
  scope: string;
  singleton: boolean;
  requiredVersion: string | false;
  strictVersion: boolean;
}

/**
 * Adds a provider unless the same version is already provided (first provider wins, as in MF). The provider gets
 * Module Federation 2's entry fields (`version`, `scope`, `shareConfig`, …) so a webpack/rspack container reads it.
 */
export function provide(
  scope: ShareScope,
  pkg: string,
  version: string,
  provider: SharedProvider,
  config: ProvidedConfig = { scope: 'default', singleton: false, requiredVersion: false, strictVersion: false },
): SharedProvider {
  provider.version ??= version;
  provider.scope ??= [config.scope];
  provider.shareConfig ??= {
    singleton: config.singleton,
    requiredVersion: config.requiredVersion,
    eager: provider.eager,
    strictVersion: config.strictVersion,
  };
  provider.deps ??= [];
  provider.useIn ??= [];
  provider.strategy ??= 'version-first';
  provider.loading ??= null;
  // MF's runtime writes the name of the container that loads an entry into its `from`; who provides it is ferry's
  // record (host.shared(), messages), so the write is ignored.
  const from = provider.from;
  Object.defineProperty(provider, 'from', { get: () => from, set: () => {}, enumerable: true, configurable: true });
  scope[pkg] ??= Object.create(null) as Record<string, SharedProvider>;
  const versions = scope[pkg]!;
  versions[version] ??= provider;
  return versions[version];
}

/** `4.17.21 from userService (loaded), 4.17.20 from remoteA`. */
export function describeProviders(versions: Record<string, SharedProvider> | undefined): string {
  const list = Object.entries(versions ?? {}).map(
    ([version, p]) => `${version} from ${p.from}${p.loaded ? ' (loaded)' : ''}`,
  );
  return list.length === 0 ? 'nobody' : list.join(', ');
}

const highest = (versions: string[]) => semver.rsort([...versions])[0];

/**
 * Chooses the version of `pkg` that `consumer` gets. Throws {@link SharedUnavailableError} when nobody provides a
 * usable version and {@link SharedVersionError} for a `strictVersion` singleton outside its range.
 */
export function choose(
  scope: ShareScope,
  pkg: string,
  want: SharedRequirement,
  consumer: Consumer,
  strategy: ShareStrategy = 'version-first',
): ShareResolution {
  const versions = scope[pkg] ?? {};
  const valid = Object.keys(versions).filter((v) => semver.valid(v));
  const range = want.requiredVersion === false ? '*' : want.requiredVersion;
  const fits = (v: string) => semver.satisfies(v, range, { includePrerelease: true });
  const providers = describeProviders(versions);
  const requires = `${consumer.name} requires "${pkg}" ${range}${want.singleton ? ' as a singleton' : ''}`;
  const where = consumer.scope === 'default' ? '' : ` in share scope "${consumer.scope}"`;
  if (valid.length === 0) {
    throw new SharedUnavailableError(
      `${requires}${where}, but nobody provides it, and it brings no copy of its own (\`import: false\`). Install ` +
        `"${pkg}" in the host and declare it in the host's \`shared\` option (for example \`shared: { '${pkg}': ` +
        `{ singleton: ${want.singleton} } }\`), or remove \`import: false\` from the remote so it brings its fallback.`,
      { package: pkg },
    );
  }
  if (want.singleton) {
    const loaded = highest(valid.filter((v) => versions[v]!.loaded));
    const version = loaded ?? (highest(valid) as string);
    const provider = versions[version]!;
    const reason = loaded ? 'already loaded (the singleton instance)' : 'highest version provided';
    if (fits(version)) return { version, from: provider.from, reason };
    const own = consumer.ownVersion === undefined ? '' : ` (it brings ${consumer.ownVersion} itself)`;
    const why =
      `${requires}${own}${where}, but the one instance is ${version} from ${provider.from}` +
      `${loaded ? ', already loaded' : ''} (provided: ${providers})`;
    if (want.strictVersion) {
      throw new SharedVersionError(
        `${why}. Align the versions: install "${pkg}" in ${range} in ${provider.from}, or widen the remote's ` +
          '`requiredVersion`, or turn off `strictVersion` to accept it with a warning.',
        { package: pkg },
      );
    }
    return {
      version,
      from: provider.from,
      reason: `${reason}, outside ${range}`,
      warning: `${why}; it gets ${version}. Align the versions (or set \`strictVersion: true\` to refuse).`,
    };
  }
  const inRange = valid.filter(fits);
  const loadedInRange = highest(inRange.filter((v) => versions[v]!.loaded));
  if (strategy === 'loaded-first' && loadedInRange !== undefined) {
    return { version: loadedInRange, from: versions[loadedInRange]!.from, reason: `loaded version in ${range}` };
  }
  const version = highest(inRange);
  if (version !== undefined) {
    return { version, from: versions[version]!.from, reason: `highest version in ${range}` };
  }
  // Nothing fits: MF falls back to the consumer's own copy, whatever its version.
  const own = consumer.ownVersion;
  if (own !== undefined && versions[own]) {
    return {
      version: own,
      from: versions[own].from,
      reason: `its own copy (nothing provided is in ${range})`,
      warning:
        `${requires}${where}; nothing provided is in that range (provided: ${providers}), so it uses its own copy ` +
        `${own}, which is outside it too. Fix the remote's \`requiredVersion\` or \`version\`.`,
    };
  }
  throw new SharedUnavailableError(
    `${requires}${where}, and no provided version is in that range (provided: ${providers}); it brings no copy of ` +
      `its own (\`import: false\`). Install a version of "${pkg}" in ${range} in the host, or remove \`import: false\` ` +
      'so the remote brings its fallback.',
    { package: pkg },
  );
}

/**
 * What ferry keeps on a provider besides MF's fields, under symbols an MF container never reads: the one loaded
 * instance (so a singleton is one) and, for providers ferry made, how deep imports (`pkg/sub`) load from the same copy.
 */
const INSTANCE = Symbol('ferry.sharedInstance');
const DEEP = Symbol('ferry.deepLoader');

interface ProviderFields {
  [INSTANCE]?: Promise<unknown>;
  [DEEP]?: (id: string) => unknown;
}

/** Loads the chosen provider's module (once per provider: the factory's result is kept so a singleton is one). */
export async function load(scope: ShareScope, pkg: string, version: string): Promise<unknown> {
  const provider = scope[pkg]?.[version] as (SharedProvider & ProviderFields) | undefined;
  if (!provider) throw new Error(`ferry: internal: ${pkg}@${version} is not in the share scope`);
  let pending = provider[INSTANCE];
  if (!pending) {
    // Marked before the factory runs, as MF does, so a concurrent singleton resolution picks this copy too.
    provider.loaded = true;
    pending = provider.get().then((factory) => factory());
    provider[INSTANCE] = pending;
    pending.catch(() => {
      delete provider[INSTANCE];
      provider.loaded = false;
    });
  }
  return pending;
}

/** Records how a provider loads deep imports of its package (`pkg/sub`), which come from the same copy. */
export function setDeepLoader(provider: SharedProvider, loader: (id: string) => unknown): void {
  Object.defineProperty(provider, DEEP, { value: loader, configurable: true });
}

/** The deep-import loader of a provider ferry created; undefined for one an MF container put in the scope. */
export function deepLoaderOf(provider: SharedProvider | undefined): ((id: string) => unknown) | undefined {
  return (provider as (SharedProvider & ProviderFields) | undefined)?.[DEEP];
}
