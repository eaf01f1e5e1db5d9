/**
 * One verified version of one remote: its manifest, the files fetched for it (each fetched once, checked against the
 * manifest's size and sha384 before anything else sees it), the modules compiled from those exact bytes, and its
 * Module Federation container initialised with the host's share scope.
 */
import { createRequire, isBuiltin, type SourceMapPayload } from 'node:module';
import { posix } from 'node:path';
import {
  EvaluationError,
  FerryError,
  IntegrityError,
  UndeclaredDependencyError,
  UnknownExposeError,
} from '../common/errors.ts';
import { integrityOf, type Manifest } from '../manifest/index.ts';
import { availabilityOf } from './availability.ts';
import { channels } from './channels.ts';
import { evaluateCommonJs, type ModuleRecord } from './evaluate.ts';
import { Housekeeping } from './housekeeping.ts';
import type { ResolvedHostOptions, ResolvedRemote } from './options.ts';
import type { ShareScope } from './share-scope.ts';
import type { Sharing } from './sharing.ts';
import { registerSourceMap, unregisterSourceMap } from './source-maps.ts';

const builtinRequire = createRequire(import.meta.url);

/** The Module Federation container interface (`remoteEntry.js` exports). */
interface Container {
  init(shareScope: ShareScope, initScope?: unknown): unknown;
  get(request: string): Promise<() => unknown> | (() => unknown);
}

/** What a version needs from its host. */
export interface VersionContext {
  host: ResolvedHostOptions;
  remote: ResolvedRemote;
  /** The scope the container is initialised with (MF `init(shareScope)`). */
  scope: ShareScope;
  /** The host's share scopes: resolves the shared modules the remote's code requires (sharing.ts). */
  sharing: Sharing;
  warn(code: string, message: string): void;
  /**
   * Settles when the version may run code: its release and cache record are on disk (`TrustedManifest.commit()`,
   * which never rejects). Its files are fetched meanwhile. Absent: it may run at once.
   */
  ready?: Promise<void>;
}

export class RemoteVersion {
  readonly manifest: Manifest;
  readonly context: VersionContext;
  /** `ferry://authService@1.0.0/`: the prefix of every compiled file's name, as stack traces show it. */
  readonly prefix: string;
  readonly #fetches = new Map<string, Promise<Uint8Array>>();
  readonly #verified = new Map<string, Uint8Array>();
  readonly #records = new Map<string, ModuleRecord>();
  readonly #exposes = new Map<string, Promise<unknown>>();
  readonly #shared = new Map<string, { value: unknown; deep?: (id: string) => unknown }>();
  #container: Promise<Container> | undefined;
  /** The timers and `process` listeners this version's code created (cleared by dispose). */
  readonly housekeeping = new Housekeeping();
  readonly #settled = new Map<string, { value: unknown }>();
  readonly #maps = new Map<string, ReturnType<typeof registerSourceMap>>();
  #disposed = false;

  constructor(manifest: Manifest, context: VersionContext) {
    this.manifest = manifest;
    this.context = context;
    this.prefix = `ferry://${manifest.name}@${manifest.ferry.version}/`;
  }

  /** The remote's alias on the host (the `from` of its fallback copies in the share scope). */
  get alias(): string {
    return this.context.remote.alias;
  }

  /**
   * Fetches one file of this version's manifest, checked against its size and integrity, to run it (its fallback
   * copies): resolves once the version may run code (`ready`).
   */
  async fetchVerified(name: string): Promise<Uint8Array> {
    const bytes = await this.#fetch(name);
    await this.context.ready;
    return bytes;
  }

  get version(): string {
    return this.manifest.ferry.version;
  }

  /** The exports of an expose (`./tokenValidator`); concurrent calls share one load. */
  import(exposeKey: string): Promise<unknown> {
    let pending = this.#exposes.get(exposeKey);
    if (!pending) {
      pending = this.#load(exposeKey);
      this.#exposes.set(exposeKey, pending);
      pending.then(
        (value) => {
          if (!this.#disposed) this.#settled.set(exposeKey, { value });
        },
        () => this.#exposes.delete(exposeKey),
      );
    }
    return pending;
  }

  /** The exports of an expose that finished loading (for live bindings, which need them synchronously). */
  loadedExports(exposeKey: string): { value: unknown } | undefined {
    return this.#settled.get(exposeKey);
  }

  /** The expose keys loaded (or loading) from this version: what a new version must load before it replaces it. */
  importedKeys(): string[] {
    return [...this.#exposes.keys()];
  }

  /** Loads and initialises the container (MF `init(shareScope)`) without loading an expose. */
  async initialise(): Promise<void> {
    await this.#fetch(this.manifest.ferry.remoteEntry);
    await this.#containerOnce();
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /**
   * Releases the version: clears the timers, intervals and `process` listeners its code created, forgets its source
   * maps, and drops its module records, fetched bytes and loaded exposes, so nothing ferry holds keeps it alive.
   * Code still holding its exports keeps working; it is just no longer managed.
   */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.context.sharing.unregister(this);
    this.housekeeping.dispose();
    for (const [filename, map] of this.#maps) unregisterSourceMap(filename, map);
    this.#maps.clear();
    this.#records.clear();
    this.#verified.clear();
    this.#fetches.clear();
    this.#exposes.clear();
    this.#settled.clear();
    this.#shared.clear();
    this.#container = undefined;
  }

  async #load(exposeKey: string): Promise<unknown> {
    const { ferry } = this.manifest;
    const entry = Object.hasOwn(ferry.exposes, exposeKey) ? ferry.exposes[exposeKey] : undefined;
    const remote = this.context.remote;
    if (!entry) {
      throw new UnknownExposeError(
        `Remote "${remote.alias}" (${remote.manifestUrl}, version ${this.version}) does not expose "${exposeKey}". ` +
          `It exposes: ${Object.keys(ferry.exposes).join(', ') || 'nothing'}.`,
        { remote: remote.alias, url: remote.manifestUrl, expose: exposeKey },
      );
    }
    const files = Promise.all([
      this.#fetch(ferry.remoteEntry),
      this.#fetch(entry.file),
      entry.map ? this.#fetch(entry.map) : undefined,
    ]);
    // The shared modules are chosen (and the host's own packages required, some ms of synchronous work) while the
    // files are on their way: one turn of the event loop later, once the requests are out. A file's error still
    // comes first; a choice made for a load that then fails stays made (it is what the next attempt would choose).
    // A fallback copy chosen here runs only once the version is `ready` (fetchVerified waits for it).
    const shared = new Promise((turn) => setImmediate(turn)).then(async () => {
      for (const pkg of entry.shared) await this.#resolveShared(pkg, exposeKey);
    });
    shared.catch(() => {}); // awaited below, after the files
    const [, , map] = await files;
    if (map && entry.map) this.#registerMap(entry.file, entry.map, map);
    await shared;
    const container = await this.#containerOnce();
    return this.#evaluating(exposeKey, async () => {
      const factory = await container.get(exposeKey);
      return factory();
    });
  }

  async #resolveShared(pkg: string, exposeKey: string): Promise<void> {
    if (this.#shared.has(pkg)) return;
    this.#shared.set(pkg, await this.context.sharing.resolve(this, this.manifest, pkg, exposeKey));
  }

  #fetch(name: string): Promise<Uint8Array> {
    let pending = this.#fetches.get(name);
    if (!pending) {
      pending = this.#fetchAndVerify(name);
      this.#fetches.set(name, pending);
      pending.catch(() => this.#fetches.delete(name));
    }
    return pending;
  }

  async #fetchAndVerify(name: string): Promise<Uint8Array> {
    const { host, remote } = this.context;
    const entry = this.manifest.ferry.files[name]!;
    const url = new URL(name, remote.manifestUrl).href;
    // The disk cache is content-addressed and re-hashed on read: a hit is exactly the bytes the manifest names.
    const availability = availabilityOf(host);
    const cached = await availability.cachedFileFor(this.manifest, entry);
    if (cached) {
      this.#verified.set(name, cached);
      return cached;
    }
    const started = performance.now();
    // The cap is the declared size: a longer body is cut off there and refused.
    const result = await availability
      .fetch(remote, url, { maxBytes: entry.size, what: `file ${name}` })
      .catch((error: unknown) => availability.cachedFileOnError(entry, error));
    channels.fetch.publish({
      host: host.name,
      remote: remote.alias,
      url,
      status: result.status,
      bytes: result.bytes.byteLength,
      durationMs: performance.now() - started,
    });
    const actual = integrityOf(result.bytes);
    if (result.bytes.byteLength !== entry.size || actual !== entry.integrity) {
      throw new IntegrityError(
        `File ${name} of remote "${remote.alias}" at ${url} does not match its manifest (expected ${entry.size} ` +
          `bytes with ${entry.integrity}, got ${result.bytes.byteLength} bytes with ${actual}); it was not run. ` +
          'The file was changed after the build or the manifest and files come from different builds: redeploy the ' +
          'whole `ferry build` output folder.',
        { remote: remote.alias, url, file: name },
      );
    }
    this.#verified.set(name, result.bytes);
    await availability.store(entry.integrity, result.bytes);
    return result.bytes;
  }

  #registerMap(file: string, mapName: string, bytes: Uint8Array): void {
    try {
      const filename = this.prefix + file;
      this.#maps.set(
        filename,
        registerSourceMap(filename, JSON.parse(Buffer.from(bytes).toString('utf8')) as SourceMapPayload),
      );
    } catch (error) {
      this.context.warn(
        'FERRY_SOURCE_MAP',
        `The source map ${mapName} of remote "${this.context.remote.alias}" could not be read (${(error as Error).message}); stack traces will show bundle positions.`,
      );
    }
  }

  #containerOnce(): Promise<Container> {
    this.#container ??= this.#evaluating('remoteEntry', async () => {
      await this.context.ready;
      const container = this.#requireFile(this.manifest.ferry.remoteEntry) as Partial<Container>;
      if (typeof container?.init !== 'function' || typeof container.get !== 'function') {
        throw new TypeError(`${this.manifest.ferry.remoteEntry} does not export init() and get()`);
      }
      await container.init(this.context.scope);
      return container as Container;
    });
    this.#container.catch(() => {
      this.#container = undefined;
    });
    return this.#container;
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
      const { remote } = this.context;
      throw new EvaluationError(
        `Remote "${remote.alias}" version ${this.version} threw while evaluating ${what}: ` +
          `${(error as Error)?.message ?? String(error)}. See the cause's stack for the remote source position.`,
        { remote: remote.alias, url: remote.manifestUrl, expose: what, cause: error },
      );
    }
  }

  #requireFile(name: string): unknown {
    const existing = this.#records.get(name);
    if (existing) return existing.exports;
    const bytes = this.#verified.get(name);
    if (!bytes) {
      throw new UndeclaredDependencyError(
        `Remote "${this.context.remote.alias}" required its file ${name} before ferry fetched and verified it; ` +
          'only files of the requested expose are loaded. Rebuild the remote with `ferry build`.',
        { remote: this.context.remote.alias, file: name },
      );
    }
    const filename = this.prefix + name;
    const source = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
    const record = evaluateCommonJs(source, filename, (id) => this.#require(name, id), this.housekeeping);
    this.#records.set(name, record);
    return record.exports;
  }

  #require(from: string, id: string): unknown {
    if (isBuiltin(id)) return builtinRequire(id);
    if (id.startsWith('./') || id.startsWith('../')) {
      const target = posix.normalize(posix.join(posix.dirname(from), id));
      if (Object.hasOwn(this.manifest.ferry.files, target)) return this.#requireFile(target);
    }
    const pkg = this.#shared.has(id) ? id : [...this.#shared.keys()].find((name) => id.startsWith(`${name}/`));
    if (pkg !== undefined) {
      const shared = this.#shared.get(pkg)!;
      if (id === pkg) return shared.value;
      if (shared.deep) return shared.deep(id);
    }
    const remote = this.context.remote.alias;
    throw new UndeclaredDependencyError(
      `Remote "${remote}" (${from}) requires "${id}", which is not a Node builtin, not a file of the remote and not a ` +
        "shared package resolved for it; ferry never looks it up in the host's node_modules. Let `ferry build` " +
        'bundle it (remove it from `shared`), or declare it in `shared` on both the remote and the host.',
      { remote, file: from, package: id },
    );
  }
}
