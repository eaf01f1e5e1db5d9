/**
 * One verified version of one remote, and everything known about it: its manifest and the integrity of its bytes,
 * whether they came from the cache, its files (version-files.ts), the shared modules chosen for it, its evaluated
 * modules (evaluate/container.ts), the exposes it has loaded, and the calls running on it through live bindings. An
 * import of an expose runs the last three stages of the pipeline in order: files -> shared -> evaluate.
 */
import { TimeoutError, UnknownExposeError } from '../../common/errors.ts';
import type { ExposeEntry, Manifest } from '../../manifest/index.ts';
import { type CopySource, copySourceOf } from '../channels.ts';
import { ModuleEvaluator } from '../evaluate/container.ts';
import type { Housekeeping } from '../evaluate/housekeeping.ts';
import { mfEvaluationOf } from '../mf/mf-version.ts';
import type { Deadlines } from '../net/deadline.ts';
import type { ResolvedRemote } from '../options/remote-options.ts';
import type { ShareScope } from '../sharing/share-scope.ts';
import type { ResolvedSharedModule, Sharing } from '../sharing/sharing.ts';
import type { ChannelDecision } from '../trust/channel.ts';
import type { TrustedManifest } from '../trust/manifest-checks.ts';
import type { Warn } from '../warnings.ts';
import { type FileSource, VersionFiles } from './version-files.ts';
import { layOutAsset, versionFolderOf } from './version-folder.ts';

/** What a version needs from its host. */
export interface VersionContext extends Omit<FileSource, 'remote'> {
  /** The scope the container is initialised with (MF `init(shareScope)`). */
  scope: ShareScope;
  /** The host's share scopes: resolves the shared modules the remote's code requires. */
  sharing: Sharing;
  warn: Warn;
  /** The host's deadlines: remote code's initialisation and evaluation are bounded by the import's. */
  deadlines: Deadlines;
  /** Where versions' folders (their assets) are laid out: `<cache.dir>/versions`. */
  versionsDir: string;
  /** A call through a live binding ended on this version (`failed`: it threw or rejected): the canary's budget. */
  onCall?: (version: RemoteVersion, failed: boolean) => void;
  /** A module of a remote this version's manifest names in `remotes` (by `key`), loaded by the host. */
  importRemote(version: RemoteVersion, key: string, specifier: string): Promise<unknown>;
  /**
   * Makes the version the remote's accepted one on disk (its release and cache record: `TrustedManifest.commit()`,
   * which never rejects). Run once, when the files its first use needs are verified and in the cache, and before any
   * of its code runs: a load that never gets its files leaves the previous record (and rollback floor) as they were.
   * Absent: nothing to commit (a live-update candidate is committed when it becomes current).
   */
  commit?: () => Promise<void>;
}

export class RemoteVersion {
  readonly manifest: Manifest;
  /** The remote's options this version was loaded with. */
  readonly remote: ResolvedRemote;
  /** `sha384-…` of the manifest's bytes: two versions with the same integrity are the same build. */
  readonly integrity: string;
  /** `ferry://authService@1.0.0/`: the prefix of every compiled file's name, as stack traces show it. */
  readonly prefix: string;
  /** The version's folder on the host, where its assets are laid out and `import.meta.url` points. */
  readonly folder: string;
  /** What a channel decided when this version was taken through one (a rollout's release is a canary). */
  readonly channel: ChannelDecision | undefined;
  /** When calls through live bindings ended on this version, and whether they failed (the last window's worth). */
  readonly calls: Array<{ at: number; failed: boolean }> = [];
  /** Where its manifest's bytes came from (`network`, `cache` after a 304, `stale` when the remote was down). */
  readonly source: CopySource;
  /** The pinned key that verified its signature, or undefined for an unsigned remote. */
  readonly signedBy: string | undefined;
  /** When it was created (epoch ms): the version's age for `host.remotes()`. */
  readonly createdAt = Date.now();
  readonly #context: VersionContext;
  readonly #files: VersionFiles;
  readonly #evaluator: ModuleEvaluator;
  readonly #shared = new Map<string, ResolvedSharedModule>();
  readonly #exposes = new Map<string, Promise<unknown>>();
  readonly #settled = new Map<string, { value: unknown }>();
  /** Calls running on this version through live bindings, and who waits for them to end. */
  #calls = 0;
  #drained: (() => void) | undefined;
  #committed: Promise<void> | undefined;
  #assets: Promise<void> | undefined;
  #disposed = false;

  constructor(trusted: TrustedManifest, remote: ResolvedRemote, context: VersionContext) {
    this.manifest = trusted.manifest;
    this.integrity = trusted.integrity;
    this.channel = trusted.channel;
    this.source = copySourceOf(trusted);
    this.signedBy = trusted.signedBy;
    this.remote = remote;
    this.#context = context;
    this.prefix = `ferry://${this.manifest.name}@${this.manifest.ferry.version}/`;
    this.folder = versionFolderOf(context.versionsDir, this.manifest, this.integrity);
    this.#files = new VersionFiles(this.manifest, trusted.fromCache, { ...context, remote });
    // A webpack/rspack Module Federation container: its fs and packages, and its async failures contained (mf/).
    const mf = mfEvaluationOf(remote, this, this.#files);
    const within = <T>(work: Promise<T> | T, what: string) =>
      context.deadlines.within(Promise.resolve(work), remote.timeouts.import, (ms) =>
        this.#evaluationTimeout(what, ms),
      );
    this.#evaluator = new ModuleEvaluator({
      manifest: this.manifest,
      alias: remote.alias,
      manifestUrl: remote.manifestUrl,
      prefix: this.prefix,
      verified: (name) => this.#files.verified(name),
      fetch: (name) => this.#files.fetch(name),
      verify: (name) => this.#files.verify(name),
      folder: this.folder,
      importRemote: (key, specifier) => context.importRemote(this, key, specifier),
      shared: this.#shared,
      scope: context.scope,
      ready: () => this.#ready(),
      within: (work, what) => (mf ? mf.contain(() => within(work, what), what) : within(work, what)),
      warn: (code, message) => context.warn(code, message, remote.alias),
      ...(mf ? { container: mf.container } : {}),
    });
  }

  /** The remote's alias on the host (the `from` of its fallback copies in the share scope). */
  get alias(): string {
    return this.remote.alias;
  }

  get version(): string {
    return this.manifest.ferry.version;
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** The timers and `process` listeners this version's code created. */
  get housekeeping(): Housekeeping {
    return this.#evaluator.housekeeping;
  }

  /**
   * Fetches one file of this version's manifest, checked against its size and integrity, to run it (its fallback
   * copies of shared packages, which may run before the version's own code does).
   */
  fetchVerified(name: string): Promise<Uint8Array> {
    return this.#files.fetch(name);
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

  /**
   * Makes the version ready to run without loading an expose: its assets and record on disk, and, for a build whose
   * exposes need it (builds that do not say whether an expose is CommonJS), its container loaded and initialised (MF
   * `init(shareScope)`).
   */
  async initialise(): Promise<void> {
    if (Object.values(this.manifest.ferry.exposes).every((entry) => this.#direct(entry))) {
      await this.#ready();
      return;
    }
    await this.#files.fetch(this.manifest.ferry.remoteEntry);
    await this.#evaluator.container();
  }

  /** Counts a call running on this version (live bindings); the returned function ends it (`failed`: it threw). */
  enter(): (failed?: boolean) => void {
    this.#calls++;
    let done = false;
    return (failed = false) => {
      if (done) return;
      done = true;
      this.#calls--;
      if (this.#calls === 0) this.#drained?.();
      this.#context.onCall?.(this, failed);
    };
  }

  /** Resolves when no call runs on this version any more, or after `timeoutMs`, whichever comes first. */
  drain(timeoutMs: number): Promise<void> {
    if (this.#calls === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      timer.unref();
      this.#drained = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /**
   * Releases the version: clears the timers, intervals and `process` listeners its code created, forgets its source
   * maps, and drops its module records, fetched bytes and loaded exposes, so nothing ferry holds keeps it alive.
   * Code still holding its exports keeps working; it is just no longer managed.
   */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#context.sharing.unregister(this);
    this.#evaluator.dispose();
    this.#files.clear();
    this.#exposes.clear();
    this.#settled.clear();
    this.#shared.clear();
  }

  async #load(exposeKey: string): Promise<unknown> {
    const { ferry } = this.manifest;
    const entry = Object.hasOwn(ferry.exposes, exposeKey) ? ferry.exposes[exposeKey] : undefined;
    const { alias, manifestUrl } = this.remote;
    if (!entry) {
      throw new UnknownExposeError(
        `Remote "${alias}" (${manifestUrl}, version ${this.version}) does not expose "${exposeKey}". ` +
          `It exposes: ${Object.keys(ferry.exposes).join(', ') || 'nothing'}.`,
        { remote: alias, url: manifestUrl, expose: exposeKey },
      );
    }
    // Files: the container (unless the expose is loaded without it), the expose's bundle, the chunks it imports and
    // the source maps, in parallel.
    const direct = this.#direct(entry);
    const maps = [entry.map, ...(entry.chunks ?? []).map((chunk) => `${chunk}.map`)].filter(
      (name): name is string => name !== undefined && Object.hasOwn(ferry.files, name),
    );
    // Verified is enough here: nothing runs before `ready`, which waits for their cache writes.
    const files = Promise.all([
      direct ? undefined : this.#files.verify(ferry.remoteEntry),
      this.#files.verify(entry.file),
      ...(entry.chunks ?? []).map((chunk) => this.#files.verify(chunk)),
      ...maps.map((map) => this.#files.verify(map)),
    ]);
    // Shared: chosen (and the host's own packages required, some ms of synchronous work) while the files are on
    // their way: one turn of the event loop later, once the requests are out. A file's error still comes first; a
    // choice made for a load that then fails stays made (it is what the next attempt would choose). A fallback copy
    // chosen here runs only once the version is `ready` (fetchVerified waits for it).
    const shared = new Promise((turn) => setImmediate(turn)).then(async () => {
      for (const pkg of entry.shared) await this.#resolveShared(pkg, exposeKey);
    });
    shared.catch(() => {}); // awaited below, after the files
    const verified = files.then(async () => {
      for (const map of maps) {
        this.#evaluator.registerMap(map.slice(0, -'.map'.length), map, this.#files.verified(map)!);
      }
      await shared;
    });
    // Evaluate: the expose's module, compiled as soon as its own file is verified (a source map as large as its
    // bundle need not arrive first: compiling runs no code) and run once every file of the load is verified and the
    // version is ready; or through the container (once), then the expose's factory.
    if (direct) return this.#evaluator.module(exposeKey, entry.file, entry.commonjs === true, verified);
    await verified;
    return this.#evaluator.expose(exposeKey);
  }

  /**
   * Before the version's code first runs: its assets and the files verified so far are on disk, then its record (so
   * it is whole when committed).
   */
  #ready(): Promise<void> {
    this.#committed ??= this.#layOutAssets()
      .then(() => this.#files.stored())
      .then(() => this.#context.commit?.());
    return this.#committed;
  }

  /**
   * Whether an expose is loaded without the container: its manifest entry says whether its source is CommonJS (what
   * the container's `get` knew) and its file is a ferry module. Builds before that field load through the container.
   */
  #direct(entry: ExposeEntry): boolean {
    return typeof entry.commonjs === 'boolean' && this.manifest.ferry.files[entry.file]?.type === 'esm';
  }

  #evaluationTimeout(what: string, ms: number): TimeoutError {
    const { alias, manifestUrl } = this.remote;
    return new TimeoutError(
      `Remote "${alias}" version ${this.version} did not finish ${what} within the ${ms} ms left of the import's ` +
        'deadline; its code hangs (a promise that never settles), so the import was given up. The remote is ' +
        `up and served verified code: fix the remote's initialisation, or raise \`timeouts.import\` if it is merely slow.`,
      { remote: alias, url: manifestUrl, phase: 'evaluation' },
    );
  }

  /** Fetches and lays out the version's assets (once; a failure is tried again at the next use). */
  #layOutAssets(): Promise<void> {
    const assets = Object.entries(this.manifest.ferry.assets ?? {});
    if (assets.length === 0) return Promise.resolve();
    this.#assets ??= Promise.all(
      assets.map(async ([path, file]) => layOutAsset(this.folder, path, await this.#files.fetch(file))),
    ).then(() => {});
    this.#assets.catch(() => {
      this.#assets = undefined;
      this.#committed = undefined;
    });
    return this.#assets;
  }

  async #resolveShared(pkg: string, exposeKey: string): Promise<void> {
    if (this.#shared.has(pkg)) return;
    this.#shared.set(pkg, await this.#context.sharing.resolve(this, this.manifest, pkg, exposeKey));
  }
}
