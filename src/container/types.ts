/**
 * What `ferry build` embeds in a remote's `remoteEntry.js` for the container runtime (container.ts): the build's
 * identity, and for every file the container may load in a Module Federation host its size and `sha384-` integrity.
 * Pure types: the build writes this object as JSON, the container reads it.
 */

/** One file the container may fetch: its exact size in bytes and its `sha384-…` integrity. */
export interface ContainerFile {
  size: number;
  integrity: string;
  /** `esm`: a ferry module (an async function body); absent: a CommonJS file (a shared package's fallback copy). */
  type?: 'esm';
}

/** One expose, as the container serves it. */
export interface ContainerExpose {
  /** Its ferry module (a key of `files`). */
  file: string;
  /** Its source is CommonJS: the factory returns `module.exports` (the namespace's `default`). */
  commonjs: boolean;
  /** The chunks it imports statically (keys of `files`), fetched beside it. */
  chunks: string[];
  /** The shared modules it uses, taken from the share scope before it is evaluated. */
  shared: string[];
}

/** One shared module, with Module Federation's options and the remote's own copy. */
export interface ContainerShared {
  /** The version of the remote's own copy (its installed version at build time). */
  version: string;
  /** The range this remote accepts; `false`: any version. */
  requiredVersion: string | false;
  singleton: boolean;
  strictVersion: boolean;
  eager: boolean;
  shareScope: string;
  /** The remote's fallback copy (a key of `files`), or `false` when it brings none (`import: false`). */
  fallback: string | false;
}

/** Everything the container knows about its build. */
export interface ContainerData {
  /** The remote's name (`authService`): the `from` of its share-scope entries. */
  name: string;
  /** The remote's version. */
  version: string;
  files: Record<string, ContainerFile>;
  exposes: Record<string, ContainerExpose>;
  shared: Record<string, ContainerShared>;
  /** The names of the remotes this remote's code imports (only a ferry host can load them). */
  remotes: string[];
}

/** What the remote entry's CommonJS scope gives the container. */
export interface ContainerScope {
  /** `__filename` as the loader gave it: an absolute path under `require()`, a base name under MF's Node loader. */
  filename?: string | undefined;
  /** The `require` the loader gave the entry: used for Node builtins only, on Node versions before 22.3. */
  require?: unknown;
}
