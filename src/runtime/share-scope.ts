/**
 * The share scope: who provides which version of each shared package, and which one a consumer gets.
 *
 * The objects follow Module Federation's container contract (`scope[pkg][version] = { get, from, eager, loaded }`)
 * so that an MF container's `init(shareScope)` can take part. Resolution follows MF's rules: a singleton gets the
 * loaded version if there is one, else the highest provided; a version outside the consumer's range is a warning, or
 * an error with `strictVersion`; a non-singleton gets the highest version inside its range.
 */
import semver from 'semver';
import { SharedUnavailableError, SharedVersionError } from '../common/errors.ts';

/** One provided version of a shared package (MF container contract). */
export interface SharedProvider {
  /** Resolves to a factory that returns the module (MF contract: `get()` -> Promise<() => module>). */
  get(): Promise<() => unknown>;
  /** Who provides it (a host or remote name). */
  from: string;
  eager: boolean;
  /** Set once the module has been loaded by anyone; MF reads it (as a truthy value) for singletons. */
  loaded?: boolean | 1;
}

/** One share scope: package name -> version -> provider. */
export type ShareScope = Record<string, Record<string, SharedProvider>>;

/** What a consumer asks of a shared package. */
export interface SharedRequirement {
  requiredVersion: string | false;
  singleton: boolean;
  strictVersion: boolean;
}

export interface ShareResolution {
  version: string;
  from: string;
  /** Set when a singleton was used outside the consumer's range (and `strictVersion` was off). */
  warning?: string;
}

/** Creates an empty MF-shaped scope (a null-prototype object, so package names cannot collide with Object's keys). */
export function createShareScope(): ShareScope {
  return Object.create(null) as ShareScope;
}

/** Adds a provider unless the same version is already provided (first provider wins, as in MF). */
export function provide(scope: ShareScope, pkg: string, version: string, provider: SharedProvider): void {
  scope[pkg] ??= Object.create(null) as Record<string, SharedProvider>;
  const versions = scope[pkg]!;
  versions[version] ??= provider;
}

function describe(versions: Record<string, SharedProvider>): string {
  const list = Object.entries(versions).map(([version, p]) => `${version} from ${p.from}`);
  return list.length === 0 ? 'none' : list.join(', ');
}

/**
 * Chooses the version of `pkg` that `consumer` gets. Throws {@link SharedUnavailableError} when nobody provides a
 * usable version and {@link SharedVersionError} for a strict singleton mismatch.
 */
export function choose(scope: ShareScope, pkg: string, want: SharedRequirement, consumer: string): ShareResolution {
  const versions = scope[pkg] ?? {};
  const valid = Object.keys(versions).filter((v) => semver.valid(v));
  const range = want.requiredVersion === false ? '*' : want.requiredVersion;
  const fits = (v: string) => semver.satisfies(v, range, { includePrerelease: true });
  if (valid.length === 0) {
    throw new SharedUnavailableError(
      `${consumer} requires the shared package "${pkg}" (${range}), but nobody provides it. Install it in the host ` +
        `and declare it in the host's \`shared\` option (for example \`shared: { '${pkg}': { singleton: ` +
        `${want.singleton} } }\`).`,
      { package: pkg },
    );
  }
  if (want.singleton) {
    const loaded = valid.find((v) => versions[v]!.loaded);
    const version = loaded ?? (semver.rsort([...valid])[0] as string);
    const provider = versions[version]!;
    if (fits(version)) return { version, from: provider.from };
    const why =
      `${consumer} requires "${pkg}" ${range} as a singleton, but the one instance is ${version} from ` +
      `${provider.from}${loaded ? ' (already loaded)' : ''} (provided: ${describe(versions)})`;
    if (want.strictVersion) {
      throw new SharedVersionError(
        `${why}. Align the versions: install a version of "${pkg}" in ${range} in the host, or widen the remote's ` +
          '`requiredVersion`, or turn off `strictVersion` to accept it with a warning.',
        { package: pkg },
      );
    }
    return { version, from: provider.from, warning: `${why}; using ${version}. Align the versions to silence this.` };
  }
  const version = semver.rsort(valid.filter(fits))[0];
  if (version === undefined) {
    throw new SharedUnavailableError(
      `${consumer} requires the shared package "${pkg}" ${range}, and no provided version satisfies it ` +
        `(provided: ${describe(versions)}). Install a matching version in the host, or build the remote with its ` +
        'own fallback copy.',
      { package: pkg },
    );
  }
  return { version, from: versions[version]!.from };
}

/** Loads the chosen provider's module (once per provider: the factory's result is cached so a singleton is one). */
export async function load(scope: ShareScope, pkg: string, version: string): Promise<unknown> {
  const provider = scope[pkg]?.[version];
  if (!provider) throw new Error(`ferry: internal: ${pkg}@${version} is not in the share scope`);
  const cached = instances.get(provider);
  if (cached) return cached.value;
  const factory = await provider.get();
  const value = factory();
  instances.set(provider, { value });
  provider.loaded = true;
  return value;
}

const instances = new WeakMap<SharedProvider, { value: unknown }>();
