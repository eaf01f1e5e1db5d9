/**
 * Building the `mf-manifest.json` document: Module Federation 2.0 fields for MF tooling, plus the `ferry` section
 * hosts verify (sizes and `sha384-` integrities of every file, version, release, expiry).
 */
import { ferryVersion } from '../common/ferry-version.ts';
import {
  type ContractSection,
  type ExportKind,
  FORMAT_VERSION,
  type Manifest,
  type SharedEntry,
} from '../manifest/index.ts';
import type { ResolvedConfig } from './config.ts';
import type { SharedModule } from './shared-fallbacks.ts';

/** An output file the manifest lists. */
export interface OutputFile {
  name: string;
  size: number;
  integrity: string;
  /** `esm` for a ferry module, `asset` for a file the code reads at run time. */
  type?: 'esm' | 'asset';
}

/** What the manifest says about one expose. */
export interface ManifestExpose {
  key: string;
  /** The bundle's file name stem (`tokenValidator`). */
  name: string;
  file: string;
  map: string;
  /** Its declaration file, when types were emitted. */
  types?: string;
  /** The chunks it imports statically. */
  chunks?: string[];
  shared: string[];
  /** Its export names and kinds. */
  exports?: Record<string, ExportKind>;
  /** Its source is CommonJS (the host gives `module.exports`); written so hosts can load it without the container. */
  commonjs?: boolean;
}

const noAssets = () => ({ js: { sync: [] as string[], async: [] as string[] }, css: { sync: [], async: [] } });

/**
 * A shared module's entry as the manifest's `ferry.shared` and the container (src/container) both carry it: its
 * Module Federation options and its fallback file.
 */
export function sharedEntryOf(
  options: Pick<SharedEntry, 'version' | 'requiredVersion' | 'singleton' | 'strictVersion' | 'eager' | 'shareScope'>,
  fallback: { file: string } | undefined,
): SharedEntry {
  return {
    version: options.version,
    requiredVersion: options.requiredVersion,
    singleton: options.singleton,
    strictVersion: options.strictVersion,
    eager: options.eager,
    shareScope: options.shareScope,
    // The remote's own copy, fetched by a host only if the share scope chooses it; none with `import: false`.
    fallback: fallback?.file ?? false,
  };
}

/**
 * The manifest for a build. `files` are every output file except the manifest, its signature (and its copy) and the
 * container under its configured name, which MF tooling loads and hosts never do (they load `remoteEntry`).
 *
 * @example
 * ```ts
 * const manifest = createManifest(config, { files, remoteEntry, exposes, builtAt: new Date() });
 * const bytes = `${JSON.stringify(manifest, null, 2)}\n`;
 * ```
 */
export function createManifest(
  config: ResolvedConfig,
  build: {
    files: readonly OutputFile[];
    /** The content-addressed container file (`remoteEntry.<hash>.js`), one of `files`. */
    remoteEntry: string;
    exposes: readonly ManifestExpose[];
    builtAt: Date;
    /** The shared modules with their fallback files (bundleSharedFallbacks); default: the keys of `shared`, none. */
    shared?: readonly Pick<SharedModule, 'key' | 'options' | 'fallback'>[];
    /** The files the code reads at run time: path in the project -> output file. */
    assets?: Readonly<Record<string, string>>;
    /** The contract check's verdict, when the API was compared with a previous release. */
    contract?: ContractSection;
  },
): Manifest {
  const { name } = config;
  const files: Manifest['ferry']['files'] = {};
  // Code-unit order, as every other list ferry writes: locale-independent, and unlike localeCompare it does not
  // load ICU's collator (~13 ms of a build).
  for (const file of [...build.files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    files[file.name] = { size: file.size, integrity: file.integrity, ...(file.type ? { type: file.type } : {}) };
  }
  const fileIntegrity = new Map(build.files.map((file) => [file.name, file.integrity]));
  const shared: Record<string, SharedEntry> = {};
  const modules: readonly Pick<SharedModule, 'key' | 'options' | 'fallback'>[] =
    build.shared ?? Object.entries(config.shared).map(([key, options]) => ({ key, options }));
  for (const { key: pkg, options: entry, fallback } of modules) {
    shared[pkg] = sharedEntryOf(entry, fallback);
  }
  const exposes: Manifest['ferry']['exposes'] = {};
  for (const expose of build.exposes) {
    const types = expose.types === undefined ? {} : { types: expose.types };
    const chunks = expose.chunks?.length ? { chunks: [...expose.chunks] } : {};
    const api = expose.exports === undefined ? {} : { exports: expose.exports };
    const format = expose.commonjs === undefined ? {} : { commonjs: expose.commonjs };
    exposes[expose.key] = {
      file: expose.file,
      map: expose.map,
      ...types,
      ...chunks,
      shared: expose.shared,
      ...api,
      ...format,
    };
  }

  return {
    id: name,
    name,
    metaData: {
      name,
      type: 'app',
      buildInfo: { buildVersion: config.version, buildName: name },
      remoteEntry: { name: config.filename, path: '', type: 'commonjs-module' },
      types: { path: '', name: '', zip: '', api: '' },
      globalName: name,
      pluginVersion: ferryVersion(),
      publicPath: 'auto',
    },
    shared: modules.map(({ key: pkg, options: entry, fallback }) => ({
      id: `${name}:${pkg}`,
      name: pkg,
      version: entry.version,
      singleton: entry.singleton,
      // MF tooling expects a string here; `false` (any version) is the range "*".
      requiredVersion: entry.requiredVersion === false ? '*' : entry.requiredVersion,
      hash: fallback ? (fileIntegrity.get(fallback.file) ?? '') : '',
      assets: fallback ? { js: { sync: [fallback.file], async: [] }, css: { sync: [], async: [] } } : noAssets(),
    })),
    // Module Federation's shape, for MF tooling; ferry reads `ferry.remotes`.
    remotes: Object.entries(config.remotes).map(([alias, remote]) => ({
      alias,
      federationContainerName: remote.name,
      moduleName: '*',
      entry: remote.url,
    })),
    exposes: build.exposes.map((expose) => ({
      id: `${name}:${expose.name}`,
      name: expose.name,
      path: expose.key,
      assets: { js: { sync: [expose.file], async: [] }, css: { sync: [], async: [] } },
    })),
    ferry: {
      formatVersion: FORMAT_VERSION,
      version: config.version,
      release: config.release,
      builtAt: build.builtAt.toISOString(),
      expires: new Date(build.builtAt.getTime() + config.expiresIn * 1000).toISOString(),
      remoteEntry: build.remoteEntry,
      files,
      exposes,
      shared,
      ...(build.assets && Object.keys(build.assets).length > 0 ? { assets: { ...build.assets } } : {}),
      ...(Object.keys(config.remotes).length > 0 ? { remotes: structuredClone({ ...config.remotes }) } : {}),
      ...(build.contract ? { contract: build.contract } : {}),
    },
  };
}
