/**
 * The last stage of a load: a version's verified files compiled (commonjs.ts) with a `require` scoped to Node
 * builtins, the version's own files and the shared modules chosen for it — never the host's node_modules — its
 * Module Federation container initialised with the share scope (`init(shareScope)`), and an expose's factory run
 * (`get(key)`, then the factory). Errors thrown by remote code become EvaluationErrors that keep the original,
 * source-mapped error as their cause. What the version's code leaves running is tracked (housekeeping.ts).
 */
import { createRequire, isBuiltin } from 'node:module';
import { dirname, join, posix, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { EvaluationError, FerryError, UndeclaredDependencyError } from '../../common/errors.ts';
import { commonJsNamespace } from '../../common/module-namespace.ts';
import type { Manifest } from '../../manifest/index.ts';
import type { ShareScope } from '../sharing/share-scope.ts';
import type { ResolvedSharedModule } from '../sharing/sharing.ts';
import { evaluateCommonJs, type ModuleRecord } from './commonjs.ts';
import { compileFerryModule, type ModuleMeta } from './ferry-module.ts';
import { Housekeeping } from './housekeeping.ts';
import { type RegisteredSourceMap, registerSourceMap, unregisterSourceMap } from './source-maps.ts';

const builtinRequire = createRequire(import.meta.url);

/** The Module Federation container interface (`remoteEntry.js` exports). */
interface Container {
  init(shareScope: ShareScope, initScope?: unknown): unknown;
  get(request: string): Promise<() => unknown> | (() => unknown);
}

/** What the evaluator needs of its version. */
export interface EvaluationSource {
  manifest: Manifest;
  alias: string;
  manifestUrl: string;
  /** `ferry://authService@1.0.0/`: the prefix of every compiled file's name, as stack traces show it. */
  prefix: string;
  /** The verified bytes of a file, if fetched. */
  verified(name: string): Uint8Array | undefined;
  /** The verified bytes of a file, fetched if needed (a chunk that `import()` loads later), once they are on disk. */
  fetch(name: string): Promise<Uint8Array>;
  /** {@link fetch}, but possibly before the bytes are on disk: to compile them, not to run them. */
  verify(name: string): Promise<Uint8Array>;
  /** The version's folder on the host, where its assets are laid out (version-folder.ts). */
  folder: string;
  /** A module of a remote this remote uses (its manifest's `remotes`: `key`), through the host's federation. */
  importRemote(key: string, specifier: string): Promise<unknown>;
  /** The shared modules resolved for the version, by package name. */
  shared: ReadonlyMap<string, ResolvedSharedModule>;
  /** The scope the container is initialised with. */
  scope: ShareScope;
  /** Settles when the version may run code (its release and cache record are on disk); starts that commit once. */
  ready(): Promise<void>;
  /**
   * `work`, bounded by the import's deadline: remote code whose `init`, `get` or factory never settles makes it
   * reject with a TimeoutError (phase `evaluation`) naming `what`, instead of leaving the import pending forever.
   */
  within<T>(work: Promise<T> | T, what: string): Promise<T>;
  warn(code: 'FERRY_SOURCE_MAP', message: string): void;
  /**
   * A webpack/rspack Module Federation container (mf/container-files.ts): `builtin` replaces `fs` so its chunk
   * loading reads ferry's verified bytes; `require` answers the packages it requires that are neither files nor
   * shared modules (Module Federation's runtime), or throws the error that says why not.
   */
  container?: {
    builtin(id: string): unknown;
    require(from: string, id: string): { value: unknown };
  };
}

export class ModuleEvaluator {
  /** The timers and `process` listeners this version's code created (cleared by dispose). */
  readonly housekeeping = new Housekeeping();
  readonly #source: EvaluationSource;
  readonly #records = new Map<string, ModuleRecord>();
  /** Ferry modules (ES module output) by file, each evaluated once. */
  readonly #modules = new Map<string, Promise<object>>();
  readonly #maps = new Map<string, RegisteredSourceMap>();
  #container: Promise<Container> | undefined;

  constructor(source: EvaluationSource) {
    this.#source = source;
  }

  /**
   * Keeps the verified source map of a bundle, so stack traces through it show the remote's sources. It is parsed
   * when a stack trace first passes through the bundle (source-maps.ts), and reported then if it cannot be read.
   */
  registerMap(file: string, mapName: string, bytes: Uint8Array): void {
    const filename = this.#source.prefix + file;
    const unreadable = (reason: string) =>
      this.#source.warn(
        'FERRY_SOURCE_MAP',
        `The source map ${mapName} of remote "${this.#source.alias}" could not be read (${reason}); stack traces through ${file} show bundle positions. Rebuild the remote with \`ferry build\` and deploy its .map files with the bundles.`,
      );
    this.#maps.set(filename, registerSourceMap(filename, bytes, unreadable));
  }

  /** The container, evaluated and initialised once (a failure is tried again next time). */
  container(): Promise<Container> {
    this.#container ??= this.#evaluating('remoteEntry', async () => {
      await this.#source.ready();
      const { remoteEntry } = this.#source.manifest.ferry;
      const container = this.#requireFile(remoteEntry) as Partial<Container>;
      if (typeof container?.init !== 'function' || typeof container.get !== 'function') {
        throw new TypeError(`${remoteEntry} does not export init() and get()`);
      }
      await this.#source.within(container.init(this.#source.scope), `its container's init()`);
      return container as Container;
    });
    this.#container.catch(() => {
      this.#container = undefined;
    });
    return this.#container;
  }

  /** Runs the factory of an expose: `get(exposeKey)`, then the factory; resolves to the module's exports. */
  async expose(exposeKey: string): Promise<unknown> {
    const container = await this.container();
    return this.#evaluating(exposeKey, async () => {
      const factory = await this.#source.within(container.get(exposeKey), `get("${exposeKey}")`);
      return this.#source.within(factory(), `the factory of ${exposeKey}`);
    });
  }

  /**
   * Runs an expose without its container: its ferry module `file`, evaluated once, after every file of its load is
   * verified (`verified`, which also registered their source maps and chose the shared packages) and the version is
   * `ready`, given as the container's `get(exposeKey)` would give it (`module.exports` for a CommonJS source, else the
   * namespace). For manifests that say which (`commonjs`): the container only maps keys to those files, so a ferry
   * host need not fetch, compile and run it. Its `init(shareScope)` only stored the scope, which ferry modules never
   * read (their shared packages come through the `require` the host gives them).
   */
  module(exposeKey: string, file: string, commonjs: boolean, verified: Promise<void>): Promise<unknown> {
    return this.#evaluating(exposeKey, async () => {
      // The module is compiled while the version's other files are verified and its files and record are written
      // (compiling runs none of its code), and run once they are. `ready` is asked for only once every file of the
      // load is verified (`verified`), so that the commit waits for their cache writes too.
      const ready = verified.then(() => this.#source.ready());
      const evaluated = this.#importModule(file, ready);
      evaluated.catch(() => {}); // awaited below, once the version is ready
      await ready;
      const namespace = await this.#source.within(evaluated, `evaluating ${exposeKey}`);
      return commonjs ? (namespace as { default?: unknown }).default : namespace;
    });
  }

  /** Clears what the code left running, forgets its source maps and drops its module records. */
  dispose(): void {
    this.housekeeping.dispose();
    for (const [filename, map] of this.#maps) unregisterSourceMap(filename, map);
    this.#maps.clear();
    this.#records.clear();
    this.#modules.clear();
    this.#container = undefined;
  }

  /** Runs remote code; a throw becomes an EvaluationError that keeps the original (source-mapped) error as cause. */
  async #evaluating<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      // Only errors made by this copy of ferry (its own require, its own checks) pass through. `instanceof` alone
      // would also accept anything remote code throws with ferry's brand — a forged IntegrityError, say — so the
      // prototype chain is checked too, and a forgery is reported as what it is: remote code that threw.
      if (error instanceof FerryError && Function.prototype[Symbol.hasInstance].call(FerryError, error)) throw error;
      const { alias, manifestUrl, manifest } = this.#source;
      throw new EvaluationError(
        `Remote "${alias}" version ${manifest.ferry.version} threw while evaluating ${what}: ` +
          `${(error as Error)?.message ?? String(error)}. See the cause's stack for the remote source position.`,
        { remote: alias, url: manifestUrl, expose: what, cause: error },
      );
    }
  }

  #requireFile(name: string): unknown {
    const existing = this.#records.get(name);
    if (existing) return existing.exports;
    const bytes = this.#source.verified(name);
    if (!bytes) {
      throw new UndeclaredDependencyError(
        `Remote "${this.#source.alias}" required its file ${name} before ferry fetched and verified it; ` +
          'only files of the requested expose are loaded. Rebuild the remote with `ferry build`.',
        { remote: this.#source.alias, file: name },
      );
    }
    const source = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
    const path = join(this.#source.folder, ...name.split('/'));
    const record = evaluateCommonJs(source, this.#source.prefix + name, (id) => this.#require(name, id), {
      housekeeping: this.housekeeping,
      ferryImport: (specifier) => this.#import(name, specifier),
      paths: { filename: path, dirname: dirname(path) },
    });
    this.#records.set(name, record);
    return record.exports;
  }

  /** `import` of `specifier` from the file `from`: resolves to a namespace. */
  async #import(from: string, specifier: string): Promise<unknown> {
    if (isBuiltin(specifier)) return commonJsNamespace(builtinRequire(specifier));
    if (specifier.startsWith('./') || specifier.startsWith('../')) {
      const target = posix.normalize(posix.join(posix.dirname(from), specifier));
      const entry = this.#source.manifest.ferry.files[target];
      if (entry?.type === 'esm') return this.#importModule(target);
      if (entry !== undefined && !target.endsWith('.map')) {
        await this.#source.fetch(target);
        return commonJsNamespace(this.#requireFile(target));
      }
    }
    const remote = this.#remoteOf(specifier);
    if (remote !== undefined) return this.#source.importRemote(remote, specifier);
    return commonJsNamespace(this.#require(from, specifier));
  }

  /** The key of the remote (of the manifest's `remotes`) a specifier such as `pricing/prices` names, if any. */
  #remoteOf(specifier: string): string | undefined {
    const key = specifier.split('/', 1)[0]!;
    return Object.hasOwn(this.#source.manifest.ferry.remotes ?? {}, key) ? key : undefined;
  }

  /**
   * Evaluates a ferry module once (its bytes fetched and verified first if they were not) and gives its namespace.
   * It is compiled as soon as its bytes are verified and run once they are on disk, and after `before` if given.
   */
  #importModule(name: string, before?: Promise<void>): Promise<object> {
    let pending = this.#modules.get(name);
    if (!pending) {
      pending = this.#source.verify(name).then(async (bytes) => {
        const source = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
        const run = compileFerryModule(source, this.#source.prefix + name, this.housekeeping);
        await Promise.all([this.#source.fetch(name), before]);
        return run({
          require: (id) => this.#require(name, id),
          import: (specifier) => this.#import(name, specifier),
          moduleMeta: (path) => this.#meta(path),
          meta: this.#meta(name),
          housekeeping: this.housekeeping,
        });
      });
      this.#modules.set(name, pending);
      pending.catch(() => {
        if (this.#modules.get(name) === pending) this.#modules.delete(name);
      });
    }
    return pending;
  }

  /** `import.meta` of the file at `path` in the remote's project, laid out in the version's folder. */
  #meta(path: string): ModuleMeta {
    // The folder is absolute, so the file's path is what pathToFileURL and fileURLToPath would round-trip it to. Its
    // URL is made on first use: every module gets this object, few read `import.meta.url` (a URL per module was ~1.5 %
    // of a 50-remote start from the cache).
    const filename = resolve(this.#source.folder, ...path.split('/'));
    let url: URL | undefined;
    const urlOf = () => {
      url ??= pathToFileURL(filename);
      return url;
    };
    return {
      get url() {
        return urlOf().href;
      },
      filename,
      dirname: dirname(filename),
      resolve: (specifier: string) => {
        if (isBuiltin(specifier)) return specifier.startsWith('node:') ? specifier : `node:${specifier}`;
        if (/^\.{0,2}\//.test(specifier) || /^[a-z][a-z0-9+.-]*:/i.test(specifier))
          return new URL(specifier, urlOf()).href;
        throw new TypeError(
          `import.meta.resolve(${JSON.stringify(specifier)}) in remote "${this.#source.alias}": a package of a remote ` +
            'has no location on the host (it is bundled, or shared through the share scope).',
        );
      },
    };
  }

  #require(from: string, id: string): unknown {
    if (isBuiltin(id)) return this.#source.container?.builtin(id) ?? builtinRequire(id);
    const { manifest, shared, alias } = this.#source;
    if (this.#remoteOf(id) !== undefined) {
      throw new UndeclaredDependencyError(
        `Remote "${alias}" (${from}) requires "${id}", a module of another remote, with require(): a remote is ` +
          `loaded over the network, so only import (import ... from '${id}', or await import('${id}')) can wait for it.`,
        { remote: alias, file: from, package: id },
      );
    }
    if (id.startsWith('./') || id.startsWith('../')) {
      const target = posix.normalize(posix.join(posix.dirname(from), id));
      if (Object.hasOwn(manifest.ferry.files, target)) return this.#requireFile(target);
    }
    const pkg = shared.has(id) ? id : [...shared.keys()].find((name) => id.startsWith(`${name}/`));
    if (pkg !== undefined) {
      const module = shared.get(pkg)!;
      if (id === pkg) return module.value;
      if (module.deep) return module.deep(id);
    }
    if (this.#source.container) return this.#source.container.require(from, id).value;
    throw new UndeclaredDependencyError(
      `Remote "${alias}" (${from}) requires "${id}", which is not a Node builtin, not a file of the remote and not a ` +
        "shared package resolved for it; ferry never looks it up in the host's node_modules. Let `ferry build` " +
        'bundle it (remove it from `shared`), or declare it in `shared` on both the remote and the host.',
      { remote: alias, file: from, package: id },
    );
  }
}
