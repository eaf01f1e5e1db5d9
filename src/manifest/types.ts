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

/** One file of a build output: its size in bytes and its `sha384-…` integrity (base64, as in SRI). */
export interface FileEntry {
  size: number;
  integrity: string;
}

/** What the build recorded about one exposed module. */
export interface ExposeEntry {
  /** The bundled CommonJS file, a key of `files`. */
  file: string;
  /** Its source map, a key of `files`, if one was emitted. */
  map?: string;
  /** Its type declarations, a key of `files`, if they were emitted. */
  types?: string;
  /** Shared packages (names as declared in `shared`) the module requires; resolved before it is evaluated. */
  shared: string[];
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
}

interface MfAssets {
  js: { sync: string[]; async: string[] };
  css: { sync: string[]; async: string[] };
}

/** The parsed manifest. The Module Federation 2.0 fields are written for MF tooling; ferry reads `ferry`. */
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
    assets: MfAssets;
  }>;
  remotes: unknown[];
  exposes: Array<{ id: string; name: string; path: string; assets: MfAssets }>;
  ferry: FerrySection;
}
