/**
 * The shape of `ferry.config.*`: a remote's Module Federation options, typed. This file imports nothing at run time
 * because the root `ferry` entry re-exports it, and hosts must never load build tooling (esbuild) by importing it.
 */

/** How one shared package is shared (Module Federation option names and meanings). */
export interface SharedConfig {
  /** Only one copy of the package may be used in a host process (the host's, or the highest one offered). */
  singleton?: boolean;
  /**
   * The semver range this remote accepts, or `false` for any version. Defaults to the range in the project's
   * package.json (`dependencies`, then `peerDependencies`, then `devDependencies`).
   */
  requiredVersion?: string | false;
  /** Refuse to run with a version outside `requiredVersion` instead of warning. */
  strictVersion?: boolean;
  /**
   * Hosts fetch and verify this remote's fallback copy as soon as they load its manifest instead of when it is
   * chosen. (ferry resolves every shared package before an expose runs, so nothing else changes.)
   */
  eager?: boolean;
  /** The share scope the package is negotiated in: only providers in the same scope are considered. Default `'default'`. */
  shareScope?: string;
  /** The version this remote provides. Defaults to the installed package's package.json `version`. */
  version?: string;
  /**
   * `false`: the remote brings no fallback copy of its own (consume only); a host or another remote must provide
   * the package. By default the build bundles the installed package as a separate, hashed fallback file.
   */
  import?: false;
  /** The package whose package.json gives the defaults of `version` and `requiredVersion`, if not the key. */
  packageName?: string;
}

/** One exposed module: the file to bundle, as a path or `{ import: path }` (relative to the project root). */
export type ExposeConfig = string | { import: string };

/** A remote's build configuration, the default export of `ferry.config.ts` (or .mts, .mjs, .js, .json). */
/** A remote another remote uses. */
export interface RemoteDependencyConfig {
  /** Its `mf-manifest.json` URL (a folder URL ending in `/` also works). */
  url: string;
  /** Its name in its manifest, when the key is an alias. Default: the key. */
  name?: string;
  /** The semver range of its versions this remote works with. */
  versionRange?: string;
  /** The key(s) that sign it (`ed25519:…` from `ferry keygen`): hosts then require its signature by one of them. */
  publicKey?: string | string[];
}

export interface RemoteConfig {
  /** The remote's name, a JavaScript identifier; hosts import `name/expose`. */
  name: string;
  /** Keys are what hosts import (`'./tokenValidator'`), values the source file to bundle. At least one. */
  exposes: Record<string, ExposeConfig>;
  /**
   * Packages the remote shares with its hosts instead of bundling into its exposes: names, or names with options. A
   * key ending in `/` (`'lodash/'`) shares every deep import under it (`lodash/fp`), each negotiated on its own.
   */
  shared?: string[] | Record<string, SharedConfig>;
  /** The remote's semver version. Default: the project's package.json `version`. */
  version?: string;
  /** The output folder, relative to the project root. Default `'dist/federation'`. */
  outDir?: string;
  /** The container file name. Default `'remoteEntry.js'`. */
  filename?: string;
  /** A number that must go up with every build hosts should accept. Default: `Date.now()` at build time. */
  release?: number;
  /** How long hosts accept the manifest: seconds, or a string such as `'90d'`, `'12h'`, `'30m'`. Default 90 days. */
  expiresIn?: number | string;
  /** Path of a PEM private key (from `ferry keygen`) to sign the manifest with. */
  sign?: string;
  /**
   * Files the exposes read at run time, as glob patterns relative to the project root (`['src/data/**']`). They ship
   * with the build (size and sha384 in the manifest, like code) and hosts lay them out where the code finds them:
   * `new URL('./x', import.meta.url)`, `import.meta.dirname` and `__dirname` work unchanged. Files the code names
   * with `new URL('./literal', import.meta.url)` are found without this.
   */
  assets?: string[];
  /**
   * Remotes this remote's code imports (`import { price } from 'pricing/prices'`), with Module Federation's option
   * name: `'name@url'`, or `{ url, name?, versionRange?, publicKey? }`. Hosts load them through their own federation
   * (the same checks, cache and live updates; one instance per host; the host's own configuration of the same remote
   * wins); the manifest names them under this remote's signature.
   */
  remotes?: Record<string, string | RemoteDependencyConfig>;
  /**
   * Emit a declaration file per expose for hosts (`ferry types` fetches them). Needs the `typescript` package in the
   * project; without it the build warns and emits none. Default `true`.
   */
  dts?: boolean;
  /**
   * The release `ferry build` compares the API with: the URL the remote is served at (its manifest or folder URL),
   * or a build output folder; `false` turns the check off. Default: the previous build in `outDir`. A breaking
   * change is refused unless the version is a new major one (or the build passes `--allow-breaking <reason>`).
   */
  baseline?: string | false;
}

/**
 * Types a remote's configuration; returns it unchanged.
 *
 * @example
 * ```ts
 * // ferry.config.ts
 * import { defineRemote } from 'ferry';
 *
 * export default defineRemote({
 *   name: 'authService',
 *   exposes: { './tokenValidator': './src/tokenValidator.ts' },
 *   shared: { jsonwebtoken: { singleton: true } },
 * });
 * ```
 */
export function defineRemote(config: RemoteConfig): RemoteConfig {
  return config;
}
