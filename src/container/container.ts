/**
 * The Module Federation container of a ferry remote, as it runs in a host that is not ferry (an
 * `@module-federation/runtime` host, a webpack or rspack build with Module Federation): `init(shareScope)` and
 * `get(expose)`, over the build data `ferry build` embedded in remoteEntry.js (types.ts).
 *
 * `get` finds the container's own URL (own-url.ts), takes the expose's shared modules from the scope
 * (share-scope.ts), fetches the expose and its chunks relative to that URL and checks each against the embedded
 * integrity before compiling it (fetch-file.ts, evaluate.ts). Bare imports resolve to Node builtins
 * (builtins.ts) or to the shared modules taken from the scope; nothing is looked up in the host's
 * node_modules.
 *
 * `import.meta.url` of a module is the URL its source had in the remote's project, resolved against the container's
 * folder (`http://remote/src/tokenValidator.ts`): MF hosts lay out no files beside the code, so `filename` and
 * `dirname` are those of that URL only when it is a `file:` URL, and files the code reads beside itself are not there.
 */
import { ContainerError, UndeclaredDependencyError, UnknownExposeError } from '../common/errors.ts';
import { builtin, isBuiltin, useEntryRequire } from './builtins.ts';
import { evaluateCommonJs, evaluateFerryModule, type ModuleMeta, namespaceOf } from './evaluate.ts';
import { FileLoader } from './fetch-file.ts';
import { ownUrl } from './own-url.ts';
import { choose, type Factory, register, type Scope, take } from './share-scope.ts';
import type { ContainerData, ContainerScope } from './types.ts';

/** The object `remoteEntry.js` exports: MF's container interface. */
export interface Container {
  init(shareScope: unknown, initScope?: unknown, options?: unknown): Promise<void>;
  get(request: string): Promise<Factory>;
}

/** MF 2.0 passes every scope of the host on a non-enumerable `shareScopeMap` of `init`'s third argument. */
function scopeMapOf(options: unknown): Record<string, Scope> | undefined {
  const map = (options as { shareScopeMap?: unknown } | null | undefined)?.shareScopeMap;
  return typeof map === 'object' && map !== null ? (map as Record<string, Scope>) : undefined;
}

const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/**
 * The container for the build `data`, given the remote entry's CommonJS scope.
 *
 * @example
 * ```js
 * // what remoteEntry.js does in a Module Federation host:
 * module.exports = createContainer(data, { filename: __filename });
 * ```
 */
export function createContainer(data: ContainerData, entryScope: ContainerScope): Container {
  const { name } = data;
  useEntryRequire(entryScope.require);
  let base: URL | undefined;
  let initialized: Scope | undefined;
  let scopeMap: Record<string, Scope> | undefined;
  const container = {} as Container;
  const baseUrl = () => {
    base ??= ownUrl(container, entryScope, name);
    return base;
  };
  const files = new FileLoader(name, data.files, baseUrl);
  const modules = new Map<string, Promise<object>>();
  const fallbacks = new Map<string, Promise<unknown>>();
  const shared = new Map<string, Promise<unknown>>();
  const taken = new Map<string, unknown>();
  /** The `get` this remote registered for each of its fallback copies, to tell its own entries in the scope. */
  const registered = new Map<string, () => Promise<Factory>>();
  /** Shared modules this remote got its own copy of: their deep imports come from the same fallback file. */
  const ownCopies = new Set<string>();
  /** Fallback files already evaluated: their exports, `{ [request]: () => module }`. */
  const evaluatedFallbacks = new Map<string, Record<string, () => unknown>>();

  const scopeFor = (scopeName: string): Scope => {
    if (!initialized) {
      throw new ContainerError(
        `The container of ferry remote "${name}" was asked for a module before init(shareScope): Module Federation ` +
          'hosts call init() first; call it with the share scope when you use the container by hand.',
        { remote: name },
      );
    }
    // MF 2.0 gives every scope of the host (init's third argument); webpack's older hosts give only this one.
    if (scopeMap && Object.hasOwn(scopeMap, scopeName)) return scopeMap[scopeName]!;
    if (scopeName === 'default' || !scopeMap) return initialized;
    const created: Scope = {};
    scopeMap[scopeName] = created;
    return created;
  };

  /** The fallback file's exports (`{ [request]: () => module }`), fetched, verified and evaluated once. */
  const fallbackExports = (file: string): Promise<unknown> => {
    let pending = fallbacks.get(file);
    if (!pending) {
      pending = files.load(file).then((bytes) => {
        const exports = evaluateCommonJs(decode(bytes), new URL(file, baseUrl()).href, builtinRequire(file));
        evaluatedFallbacks.set(file, exports as Record<string, () => unknown>);
        return exports;
      });
      fallbacks.set(file, pending);
      pending.catch(() => fallbacks.delete(file));
    }
    return pending;
  };
  const ownFactory = (pkg: string, file: string) => async (): Promise<Factory> => {
    const exports = (await fallbackExports(file)) as Record<string, () => unknown>;
    return () => exports[pkg]!();
  };

  /** Takes shared module `pkg` from the scope once; resolves to its value (what the factory returned). */
  const takeShared = (pkg: string): Promise<unknown> => {
    let pending = shared.get(pkg);
    if (!pending) {
      pending = (async () => {
        const config = data.shared[pkg]!;
        const scope = scopeFor(config.shareScope);
        const chosen = choose(scope, pkg, config, name);
        const own = registered.get(pkg);
        const versions = Object.hasOwn(scope, pkg) ? scope[pkg]! : {};
        const at = (version: string) => (Object.hasOwn(versions, version) ? versions[version] : undefined);
        // `undefined`: this remote's own copy, through its own scope entry (marked loaded there) if it is still there.
        let entry = at(chosen ?? config.version);
        if (chosen === undefined && entry?.get !== own) entry = undefined;
        let factory: Factory;
        if (entry) factory = await take(entry, name);
        else if (config.fallback !== false) factory = await ownFactory(pkg, config.fallback)();
        else throw new ContainerError(`Shared ${pkg} vanished from its scope (a bug in ferry).`, { remote: name });
        if (entry === undefined || entry.get === own) ownCopies.add(pkg);
        const value = factory();
        taken.set(pkg, value);
        return value;
      })();
      shared.set(pkg, pending);
      pending.catch(() => shared.delete(pkg));
    }
    return pending;
  };

  /** The shared key a bare specifier belongs to (`jsonwebtoken` for `jsonwebtoken/decode`), if any. */
  const sharedKeyOf = (specifier: string): string | undefined => {
    if (Object.hasOwn(data.shared, specifier)) return specifier;
    return Object.keys(data.shared).find((key) => specifier.startsWith(key.endsWith('/') ? key : `${key}/`));
  };

  const undeclared = (from: string, specifier: string) => {
    const remoteName = specifier.split('/', 1)[0]!;
    const message = data.remotes.includes(remoteName)
      ? `Ferry remote "${name}" (${from}) imports "${specifier}", a module of remote "${remoteName}": a remote's own ` +
        'remotes are loaded by ferry hosts only (their trust flows from the keys a ferry host pins). Load this remote ' +
        'with a ferry host, or have the Module Federation host load that remote itself.'
      : `Ferry remote "${name}" (${from}) imports "${specifier}", which is not a Node builtin, not a file of the remote ` +
        "and not one of its shared modules; the container never looks it up in the host's node_modules. Rebuild the " +
        'remote so that `ferry build` bundles it, or declare it in `shared`.';
    return new UndeclaredDependencyError(message, { remote: name, file: from, package: specifier });
  };

  /** A module the code may `require()` synchronously: builtins, and shared modules already taken. */
  const requireFrom =
    (from: string) =>
    (id: string): unknown => {
      if (isBuiltin(id)) return builtin(id);
      const key = sharedKeyOf(id);
      if (key !== undefined && taken.has(key)) return id === key ? taken.get(key) : deepOf(from, id, key);
      throw undeclared(from, id);
    };
  function builtinRequire(from: string) {
    return (id: string): unknown => {
      if (isBuiltin(id)) return builtin(id);
      throw undeclared(from, id);
    };
  }
  /** A deep import (`pkg/sub`) of a shared module: served by this remote's own copy when that is what it took. */
  const deepOf = (from: string, id: string, key: string): unknown => {
    const file = data.shared[key]?.fallback;
    const exports = ownCopies.has(key) && typeof file === 'string' ? evaluatedFallbacks.get(file) : undefined;
    if (exports && Object.hasOwn(exports, id)) return exports[id]!();
    throw deepImport(from, id, key);
  };
  const deepImport = (from: string, id: string, key: string) =>
    new UndeclaredDependencyError(
      `Ferry remote "${name}" (${from}) imports "${id}", a path inside the shared module ${key}; in a Module ` +
        `Federation host a shared module is one object from the share scope, and the copy of ${key} taken ` +
        `(${ownCopies.has(key) ? "the remote's own, which does not include it" : "the host's, which serves no paths inside it"}) ` +
        `has no "${id}". Declare "${id}" as a shared module of its own on both sides, or import ${key} itself.`,
      { remote: name, file: from, package: id },
    );

  /** `import(specifier)` from file `from` (a file of the build): resolves to a namespace. */
  const importFrom =
    (from: string) =>
    async (specifier: string): Promise<unknown> => {
      if (isBuiltin(specifier)) return namespaceOf(builtin(specifier));
      if (specifier.startsWith('./') || specifier.startsWith('../')) {
        const target = new URL(specifier, `file:///${from}`).pathname.slice(1);
        if (data.files[target]?.type === 'esm') return importModule(target);
        throw undeclared(from, specifier);
      }
      const key = sharedKeyOf(specifier);
      if (key !== undefined) {
        const value = await takeShared(key);
        return namespaceOf(specifier === key ? value : deepOf(from, specifier, key));
      }
      throw undeclared(from, specifier);
    };

  const metaOf = (path: string): ModuleMeta => {
    const url = new URL(path, baseUrl());
    const { fileURLToPath } = builtin('node:url');
    const { dirname } = builtin('node:path');
    const filename = url.protocol === 'file:' ? fileURLToPath(url) : undefined;
    return {
      url: url.href,
      filename,
      dirname: filename === undefined ? undefined : dirname(filename),
      resolve: (specifier: string) => {
        if (isBuiltin(specifier)) return specifier.startsWith('node:') ? specifier : `node:${specifier}`;
        if (/^\.{0,2}\//.test(specifier) || /^[a-z][a-z0-9+.-]*:/i.test(specifier)) return new URL(specifier, url).href;
        throw new TypeError(
          `import.meta.resolve(${JSON.stringify(specifier)}) in ferry remote "${name}": a package of a remote has no ` +
            'location in a Module Federation host (it is bundled, or shared through the share scope).',
        );
      },
    };
  };

  /** Evaluates a ferry module of the build once, from its verified bytes; resolves to its namespace. */
  const importModule = (file: string): Promise<object> => {
    let pending = modules.get(file);
    if (!pending) {
      pending = files.load(file).then((bytes) =>
        evaluateFerryModule(decode(bytes), new URL(file, baseUrl()).href, {
          require: requireFrom(file),
          import: importFrom(file),
          moduleMeta: metaOf,
          meta: metaOf(file),
        }),
      );
      modules.set(file, pending);
      pending.catch(() => {
        if (modules.get(file) === pending) modules.delete(file);
      });
    }
    return pending;
  };

  container.init = async (shareScope, _initScope, options) => {
    if (typeof shareScope !== 'object' || shareScope === null) {
      throw new ContainerError(
        `The container of ferry remote "${name}": init(shareScope) needs a share scope object (Module Federation ` +
          `passes one); got ${shareScope === null ? 'null' : typeof shareScope}.`,
        { remote: name },
      );
    }
    if (initialized !== undefined) {
      if (initialized === shareScope) return;
      throw new ContainerError(
        `The container of ferry remote "${name}" was already initialized with a different share scope; as in Module ` +
          'Federation, a container joins one share scope. Load it once per host.',
        { remote: name },
      );
    }
    initialized = shareScope as Scope;
    scopeMap = scopeMapOf(options);
    // The URL is looked up when a file is first needed: a failure then reaches the caller of get() as it is (MF
    // flattens errors thrown by init() into its own message).
    for (const [pkg, config] of Object.entries(data.shared)) {
      if (config.fallback === false) continue;
      const load = ownFactory(pkg, config.fallback);
      registered.set(pkg, load);
      register(scopeFor(config.shareScope), pkg, config, name, load);
    }
  };

  container.get = async (request) => {
    const expose =
      typeof request === 'string' && Object.hasOwn(data.exposes, request) ? data.exposes[request] : undefined;
    if (!expose) {
      throw new UnknownExposeError(
        `Ferry remote "${name}" has no module ${JSON.stringify(request)}; it exposes ` +
          `${Object.keys(data.exposes).join(', ') || 'nothing'}. Check the expose key (as in its ferry.config: "./name").`,
        { remote: name, expose: String(request) },
      );
    }
    // Everything the expose needs is requested at once: its files (chunks included) and its shared modules, which
    // must be taken before its code runs (bundled CommonJS code may require() them synchronously).
    const fetching = [expose.file, ...expose.chunks].map((file) => files.load(file));
    await Promise.all([...fetching, ...expose.shared.map(takeShared)]);
    const value = await importModule(expose.file);
    return () => (expose.commonjs ? (value as { default: unknown }).default : value);
  };
  return container;
}
