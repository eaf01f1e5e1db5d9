/**
 * The wire format: `mf-manifest.json` (Module Federation 2.0 fields plus a `ferry` section) and its detached
 * signature. Pure types; parsing lives in parse.ts, bytes and hashes in integrity.ts, signing in signature.ts.
 */

/** Name of the manifest file in a build output folder. */
export const MANIFEST_FILE = 'mf-manifest.json';
/** Name of the detached signature next to the manifest. */
export const SIGNATURE_FILE = 'mf-manifest.json.sig';
/** The version of the `ferry` section's layout; bumped on incompatible changes. */
export const FORMAT_VERSION = 1;
/**
 * The highest `ferry.release` a build may write and a host accepts: 10^15.
 *
 * Hosts refuse any release lower than the highest they accepted, so a signed release that nothing can exceed (2^53−1,
 * the largest integer a JSON number holds exactly) would lock every host that saw it out of all later builds. The cap
 * sits a factor of 9 below that limit, so a remote that reached it by accident is refused at its build, not stuck
 * forever; it is still far above every release ferry writes by itself: the default is `Date.now()`, which reaches 10^15
 * in the year 33658. The most likely mistakes land above it and are refused: a microsecond clock (~1.8·10^15), a
 * nanosecond one, `Number.MAX_SAFE_INTEGER`.
 */
export const MAX_RELEASE = 1_000_000_000_000_000;

/** One file of a build output: its size in bytes and its `sha384-…` integrity (base64, as in SRI). */
export interface FileEntry {
  size: number;
  integrity: string;
  /**
   * `esm`: a ferry module (ES module output rewritten as the body of an async function; the host compiles it with
   * node:vm). `asset`: a file the remote's code reads at run time, laid out in the version's folder on the host.
   * Absent: a CommonJS file, or not code (maps, declarations).
   */
  type?: 'esm' | 'asset';
}

/** What the build recorded about one exposed module. */
export interface ExposeEntry {
  /** The bundled file (a ferry module, or CommonJS in builds before ferry 0.2), a key of `files`. */
  file: string;
  /** The chunks it imports statically (keys of `files`), fetched and verified with it. */
  chunks?: string[];
  /** Its source map, a key of `files`, if one was emitted. */
  map?: string;
  /** Its type declarations, a key of `files`, if they were emitted. */
  types?: string;
  /** Shared packages (names as declared in `shared`) the module requires; resolved before it is evaluated. */
  shared: string[];
  /**
   * Whether the module's source is CommonJS: a host gives its `module.exports` (the namespace's `default`), as
   * `require` would; otherwise its namespace. Written by every build from this field's release on, with `file` a ferry
   * module: a ferry host then loads `file` directly, without fetching or running the container. Absent in older
   * builds, whose exposes a host loads through the container (`get(key)`), which knows it.
   */
  commonjs?: boolean;
  /**
   * The module's JavaScript-level API: each export name and its kind, as the build read it from the bundled source
   * (present from the contracts release of ferry on; the full API is the `types` file).
   */
  exports?: Record<string, ExportKind>;
}

/** What an export is at run time, as the build can tell without running it. */
export type ExportKind = 'function' | 'class' | 'value';

/** One export a release changed incompatibly, compared with the release before it. */
export interface BreakingChange {
  /** The expose key (`./tokenValidator`). */
  expose: string;
  /** The export's name; `*` when the whole expose was removed. */
  export: string;
  /** What changed, for people (`new required parameter \`options\``). */
  change: string;
}

/** How this release's API compares with the release it was checked against (`ferry build`'s contract check). */
export interface ContractSection {
  /** The version of the release compared with. */
  baseline: string;
  /** `types`: declarations compared with TypeScript's assignability; `names`: export names and kinds only. */
  checked: 'types' | 'names';
  /** The exports changed incompatibly; empty when the API is compatible. */
  breaking: BreakingChange[];
  /** The reason given with `--allow-breaking` when breaking changes were released without a new major version. */
  override?: string;
}

/** What the remote declared about one shared package (Module Federation option names). */
export interface SharedEntry {
  /** The version the remote was built against (its installed copy). */
  version: string;
  /** The semver range the remote accepts, or `false` for any version. */
  requiredVersion: string | false;
  singleton: boolean;
  strictVersion: boolean;
  eager: boolean;
  shareScope: string;
  /** The remote's fallback copy (a key of `files`), or `false` when the remote brings none (`import: false`). */
  fallback: string | false;
}

/** The part of the manifest only ferry reads; it carries everything the host verifies. */
export interface FerrySection {
  formatVersion: number;
  /** The remote's own semver version (package.json `version` unless configured). */
  version: string;
  /** A number that only goes up from one build of this remote to the next; hosts refuse a lower one. */
  release: number;
  /** ISO 8601 time of the build. */
  builtAt: string;
  /** ISO 8601 time after which hosts refuse this manifest. */
  expires: string;
  /** The container file (`module.exports = { get, init }`), a key of `files`. */
  remoteEntry: string;
  files: Record<string, FileEntry>;
  /** Keyed by expose path as written in `exposes` (`./tokenValidator`). */
  exposes: Record<string, ExposeEntry>;
  /** Keyed by package name. */
  shared: Record<string, SharedEntry>;
  /** The contract check's verdict; absent for a first release (nothing to compare with) or an older ferry. */
  contract?: ContractSection;
  /**
   * The files the remote's code reads at run time: their path in the remote's project (where `import.meta.url`,
   * `__dirname` and `new URL('./x', import.meta.url)` find them) -> a key of `files`.
   */
  assets?: Record<string, string>;
  /**
   * The remotes this remote's code imports (`pricing/prices`), by the name its code uses: where each is, the versions
   * it accepts, and optionally the key that signs it. Covered by this manifest's signature, so a host that pins this
   * remote's key knows whom to trust for them.
   */
  remotes?: Record<string, RemoteDependency>;
}

/** A remote another remote uses. */
export interface RemoteDependency {
  /** Its name in its own manifest. */
  name: string;
  /** Its `mf-manifest.json` URL. */
  url: string;
  /** The semver range of its versions this remote works with. */
  versionRange?: string;
  /** The public key(s) that sign it (`ed25519:…`). */
  publicKey?: string[];
}

interface MfAssets {
  js: { sync: string[]; async: string[] };
  css: { sync: string[]; async: string[] };
}

/**
 * A remote this remote uses, in Module Federation's manifest shape (`@module-federation/sdk`'s `ManifestRemote`), for
 * MF tooling; ferry hosts read `ferry.remotes`.
 */
export interface MfManifestRemote {
  alias: string;
  /** The remote's name in its own manifest. */
  federationContainerName: string;
  /** MF lists one entry per module used; ferry records the remote once, so this is `*` (any of its modules). */
  moduleName: string;
  /** Its `mf-manifest.json` URL. */
  entry: string;
}

/**
 * The parsed manifest. The Module Federation 2.0 fields are written for MF tooling and match `@module-federation/sdk`'s
 * `Manifest` type (test/interop/mf-host-manifest.interop.ts checks it at compile time); ferry reads `ferry`. Builds
 * before ferry 0.2 wrote no `shared[].hash` and an `remotes[]` of another shape: ferry hosts never read either.
 */
export interface Manifest {
  id: string;
  name: string;
  metaData: {
    name: string;
    type: 'app';
    buildInfo: { buildVersion: string; buildName: string };
    remoteEntry: { name: string; path: string; type: 'commonjs-module' };
    types: { path: string; name: string; zip: string; api: string };
    globalName: string;
    pluginVersion: string;
    publicPath: string;
  };
  shared: Array<{
    id: string;
    name: string;
    version: string;
    singleton: boolean;
    requiredVersion: string;
    /** The `sha384-` integrity of the remote's fallback copy, `''` when it brings none (MF tooling reads a string). */
    hash: string;
    assets: MfAssets;
  }>;
  remotes: MfManifestRemote[];
  exposes: Array<{ id: string; name: string; path: string; assets: MfAssets }>;
  ferry: FerrySection;
}
