/**
 * The host's sharing state: its share scopes by name (Module Federation's `shareScope`), the providers in them (the
 * host's installed packages, and every loaded remote's fallback copies, registered when its manifest is accepted),
 * the choice for each consumer with the host's `shareStrategy`, and a record of who uses what and why, which
 * `host.shared()` reports.
 */
import * as semver from '../../common/semver.ts';
import type { Manifest } from '../../manifest/index.ts';
import type { ResolvedHostOptions } from '../options/host-options.ts';
import type { Warn } from '../warnings.ts';
import { type FallbackSource, fallbackProvider } from './fallback-provider.ts';
import { provideHostPackages, provideHostRequest, unsharedSingleton } from './host-packages.ts';
import {
  type Consumer,
  choose,
  createShareScope,
  deepLoaderOf,
  load,
  provide,
  type SharedProvider,
  type ShareScope,
  type ShareStrategy,
} from './share-scope.ts';

/** One consumer of a shared module, and what it got. */
export interface SharedUse {
  /** `remote "authService" (./tokenValidator)`, or `host "userService" (its own code)`. */
  consumer: string;
  version: string;
  /** Who provided the copy it got. */
  from: string;
  requiredVersion: string | false;
  singleton: boolean;
  /** Why this version: `highest version provided`, `already loaded (the singleton instance)`, … */
  reason: string;
  /** The warning given, when the version is outside the consumer's range. */
  warning?: string;
}

/** What {@link Sharing.report} says about one shared module in one scope. */
export interface SharedModuleReport {
  /** Every version provided, by whom, and whether it has been loaded. */
  provided: Array<{ version: string; from: string; eager: boolean; loaded: boolean }>;
  /** The versions in use (one for a singleton), highest first. */
  chosen: string[];
  uses: SharedUse[];
}

/** Scope name -> module name -> report. */
export type SharedReport = Record<string, Record<string, SharedModuleReport>>;

/** A shared module as resolved for one remote: its value, and how to load its deep imports from the same copy. */
export interface ResolvedSharedModule {
  value: unknown;
  deep?: (id: string) => unknown;
}

export interface Sharing {
  readonly strategy: ShareStrategy;
  /** The scope named `name`, created empty on first use. */
  scope(name: string): ShareScope;
  /** Registers a remote's fallback copies in their scopes (before anything of it is resolved). */
  register(source: FallbackSource, manifest: Manifest): void;
  /**
   * Withdraws what {@link register} and {@link resolve} recorded for `source` (a disposed version): its fallback
   * copies that nobody loaded leave the scopes (another registered copy of the same version takes the place), and its
   * uses leave the report. A copy that was loaded stays: it is the instance others use.
   */
  unregister(source: FallbackSource): void;
  /** Chooses, loads and records the copy of `key` that `source`'s expose gets. */
  resolve(source: FallbackSource, manifest: Manifest, key: string, exposeKey: string): Promise<ResolvedSharedModule>;
  report(): SharedReport;
}

/** The scope a remote's container is initialised with: that of its shared modules (the first), else `default`. */
export function containerScopeOf(manifest: Manifest): string {
  return Object.values(manifest.ferry.shared)[0]?.shareScope ?? 'default';
}

/**
 * Creates the host's sharing state and provides the host's installed packages. `loadAllRemotes` loads (and thereby
 * registers) every configured remote's manifest; `version-first` calls it once, before the first choice.
 */
export function createSharing(
  options: ResolvedHostOptions,
  warn: Warn,
  loadAllRemotes: () => Promise<unknown>,
): Sharing {
  const scopes = new Map<string, ShareScope>();
  const scopeOf = (name: string) => {
    let scope = scopes.get(name);
    if (!scope) {
      scope = createShareScope();
      scopes.set(name, scope);
    }
    return scope;
  };
  scopeOf('default');
  /** Uses by `scope\0key`, each with the version that made it (undefined for the host's own code). */
  const uses = new Map<string, Array<{ use: SharedUse; source: FallbackSource | undefined }>>();
  const use = (scope: string, key: string, entry: SharedUse, source?: FallbackSource) => {
    const id = `${scope}\0${key}`;
    if (!uses.has(id)) uses.set(id, []);
    uses.get(id)!.push({ use: entry, source });
  };
  /** Every fallback copy registered, kept in the scope or not, per source, in the order they were registered. */
  const registered = new Map<
    FallbackSource,
    Array<{ scope: string; key: string; version: string; provider: SharedProvider }>
  >();
  for (const message of provideHostPackages(scopeOf, options)) warn('FERRY_SHARED_NOT_INSTALLED', message);
  for (const [key, shared] of Object.entries(options.shared)) {
    const scope = shared.shareScope ?? 'default';
    const version = Object.entries(scopes.get(scope)?.[key] ?? {}).find(([, p]) => p.from === options.name)?.[0];
    if (version === undefined) continue;
    use(scope, key, {
      consumer: `host "${options.name}" (its own code)`,
      version,
      from: options.name,
      requiredVersion: shared.requiredVersion ?? false,
      singleton: shared.singleton,
      reason: 'its own installed copy',
    });
  }
  let prepared: Promise<unknown> | undefined;

  return {
    strategy: options.shareStrategy,
    scope: scopeOf,
    register(source, manifest) {
      for (const [key, entry] of Object.entries(manifest.ferry.shared)) {
        if (entry.fallback === false) continue;
        const provider = fallbackProvider(source, key, entry, entry.fallback);
        const kept = provide(scopeOf(entry.shareScope), key, entry.version, provider, {
          scope: entry.shareScope,
          singleton: entry.singleton,
          requiredVersion: entry.requiredVersion,
          strictVersion: entry.strictVersion,
        });
        if (!registered.has(source)) registered.set(source, []);
        registered.get(source)!.push({ scope: entry.shareScope, key, version: entry.version, provider });
        // eager (MF: in the initial chunk): fetched and verified now; a failure shows again if it is chosen.
        if (entry.eager && kept === provider) provider.get().catch(() => {});
      }
    },
    unregister(source) {
      const own = registered.get(source) ?? [];
      registered.delete(source);
      for (const { scope: name, key, version, provider } of own) {
        const versions = scopes.get(name)?.[key];
        if (!versions || versions[version] !== provider || provider.loaded) continue;
        // The next copy of the same version registered by another source steps in, in registration order.
        const next = [...registered.values()]
          .flat()
          .find((entry) => entry.scope === name && entry.key === key && entry.version === version);
        if (next) versions[version] = next.provider;
        else delete versions[version];
        if (Object.keys(versions).length === 0) delete scopes.get(name)![key];
      }
      for (const [id, list] of uses) {
        const kept = list.filter((entry) => entry.source !== source);
        if (kept.length === 0) uses.delete(id);
        else uses.set(id, kept);
      }
    },
    async resolve(source, manifest, key, exposeKey) {
      // version-first (MF): every remote is initialised before the first choice, so all versions are known.
      if (options.shareStrategy === 'version-first') {
        prepared ??= loadAllRemotes().catch(() => {});
        await prepared;
      }
      const entry = manifest.ferry.shared[key]!;
      const scope = scopeOf(entry.shareScope);
      const notInstalled = provideHostRequest(scopeOf, options, key);
      if (notInstalled !== undefined) warn('FERRY_SHARED_NOT_INSTALLED', notInstalled);
      const consumer: Consumer = {
        name: `remote "${source.alias}" (${exposeKey})`,
        scope: entry.shareScope,
        ...(entry.fallback === false ? {} : { own: source.alias, ownVersion: entry.version }),
      };
      const chosen = choose(scope, key, entry, consumer, options.shareStrategy);
      if (entry.singleton && chosen.from !== options.name) {
        const unshared = unsharedSingleton(options, key, source.alias);
        if (unshared !== undefined) warn('FERRY_SINGLETON_NOT_SHARED', unshared, source.alias);
      }
      if (chosen.warning !== undefined) warn('FERRY_SHARED_VERSION_MISMATCH', chosen.warning, source.alias);
      const value = await load(scope, key, chosen.version);
      use(
        entry.shareScope,
        key,
        {
          consumer: `remote "${source.alias}" (${exposeKey})`,
          version: chosen.version,
          from: chosen.from,
          requiredVersion: entry.requiredVersion,
          singleton: entry.singleton,
          reason: chosen.reason,
          ...(chosen.warning === undefined ? {} : { warning: chosen.warning }),
        },
        source,
      );
      const deep = deepLoaderOf(scope[key]?.[chosen.version]);
      return deep === undefined ? { value } : { value, deep };
    },
    report() {
      const report: SharedReport = {};
      for (const [name, scope] of scopes) {
        const modules: Record<string, SharedModuleReport> = {};
        for (const [key, versions] of Object.entries(scope)) {
          const used = (uses.get(`${name}\0${key}`) ?? []).map((entry) => entry.use);
          modules[key] = {
            provided: Object.entries(versions).map(([version, p]) => ({
              version,
              from: p.from,
              eager: p.eager,
              loaded: Boolean(p.loaded),
            })),
            chosen: semver.rsort([...new Set(used.map((u) => u.version))]),
            uses: used.map((u) => ({ ...u })),
          };
        }
        report[name] = modules;
      }
      return report;
    },
  };
}
