/**
 * `buildRemote()`: config -> esbuild bundles -> container -> manifest -> signature, written in that order so that a
 * manifest never names a file that is not there yet, and the signature is made over the exact manifest bytes written.
 * A folder is rebuilt in place while hosts read it, so nothing a host pairs with a manifest is rewritten under the
 * same name: the container the manifest lists is content-addressed, and the signature also goes to a copy named by
 * the manifest bytes, written before the manifest (see manifest/file-names.ts).
 */
import { mkdir, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BuildError } from '../common/errors.ts';
import type { ContainerData } from '../container/index.ts';
import {
  containerFileFor,
  integrityOf,
  MANIFEST_FILE,
  type Manifest,
  parseManifest,
  publicKeyOf,
  SIGNATURE_FILE,
  signatureFileFor,
  signManifest,
} from '../manifest/index.ts';
import { exposeExports } from './api-exports.ts';
import { writeAssets } from './assets.ts';
import { type Baseline, loadBaseline } from './baseline.ts';
import { bundleExposes } from './bundle.ts';
import { configRoot, loadConfig } from './config.ts';
import { containerRuntime } from './container-runtime.ts';
import { type ContractReport, compareApi, compareTypes, enforceContract, formatContractSummary } from './contract.ts';
import { createManifest, type OutputFile, sharedEntryOf } from './create-manifest.ts';
import { cleanOutDir, previousFiles, writeOutputFile } from './output.ts';
import { keepRelease, keptFiles } from './release.ts';
import { createRemoteEntry } from './remote-entry.ts';
import { bundleSharedFallbacks, startSharedFallbacks } from './shared-fallbacks.ts';
import { loadSigningKey } from './signing-key.ts';
import { emitExposeTypes } from './types.ts';

/** Options of {@link buildRemote}; relative paths are relative to `root`. */
export interface BuildOptions {
  /** The project root. Default: the folder of `configFile` if given, else `process.cwd()`. */
  root?: string;
  /** The config file, instead of looking for `ferry.config.*` in `root`. */
  configFile?: string;
  /** Replaces the config's `outDir`. */
  outDir?: string;
  /** A PEM private key file to sign with; takes precedence over FERRY_SIGNING_KEY and the config's `sign`. */
  sign?: string;
  /** Where FERRY_SIGNING_KEY is read from. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /**
   * The release to compare the API with: a URL (the remote's manifest or folder URL) or a build output folder;
   * `false` skips the check. Replaces the config's `baseline`; default: the output folder's previous build.
   */
  baseline?: string | false;
  /** Release breaking changes without a new major version; the reason is recorded in the manifest. */
  allowBreaking?: string;
  /**
   * Reuse the shared-package fallbacks of earlier builds from `node_modules/.cache/ferry/fallbacks/` when nothing
   * they were made from changed (default true; src/build/fallback-cache.ts). `false` bundles every one again.
   */
  cache?: boolean;
}

/** What a build wrote. */
export interface BuildResult {
  /** Absolute path of the output folder. */
  outDir: string;
  manifest: Manifest;
  /**
   * Every file written, in write order (package.json, bundles and maps, declarations, the content-addressed
   * container, the container under its configured `filename`, the signature copy, manifest, signature).
   */
  files: OutputFile[];
  signed: boolean;
  /** The public key that verifies the signature (`ed25519:…`), when signed. */
  publicKey?: string;
  /** Files of older generations that were removed. */
  removed: string[];
  /** esbuild's warnings, formatted, and one line per problem with the type declarations. */
  warnings: string[];
  /**
   * How the type declarations were written: `isolated` (oxc-transform, in process) or `tsc`, with the reason the
   * fast path was not taken; absent when there are none (`dts: false`, JavaScript sources, no typescript).
   */
  declarations?: { by: 'isolated' | 'tsc'; slowReason?: string };
  /** The API compared with the baseline release; absent for a first release or with `baseline: false`. */
  contract?: ContractReport;
  /** The reason given with `allowBreaking`, when breaking changes were released with it. */
  contractOverride?: string;
  durationMs: number;
}

/**
 * Builds a remote: bundles its exposes and writes the federation output folder.
 *
 * @example
 * ```ts
 * const result = await buildRemote({ root: '/srv/auth', sign: 'keys/ferry.pem' });
 * console.log(formatBuildSummary(result));
 * ```
 */
export async function buildRemote(options: BuildOptions = {}): Promise<BuildResult> {
  const started = performance.now();
  const root = options.root ?? (options.configFile !== undefined ? configRoot(options.configFile) : process.cwd());
  const config = await loadConfig({
    root,
    ...(options.configFile !== undefined ? { configFile: options.configFile } : {}),
    ...(options.outDir !== undefined ? { outDir: options.outDir } : {}),
  });
  // Load the key before any work, so a bad key fails the build without touching the output folder.
  const signing = await loadSigningKey({
    root: config.root,
    env: options.env ?? process.env,
    ...(options.sign !== undefined ? { sign: options.sign } : {}),
    ...(config.sign !== undefined
      ? { configSign: config.sign, configLabel: relative(config.root, config.configFile) }
      : {}),
  });
  // The declarations (in process, or a tsc child process) are made beside esbuild; their problems are warnings, never
  // a failed build. Each shared package's fallback for its own request alone is bundled at the same time as the
  // exposes; once the bundles say which requests each key serves, that result is used or the key is bundled again.
  const bundled = bundleExposes(config);
  const runtimeScript = containerRuntime(); // the container runtime (bundled once per process when run from src/)
  runtimeScript.catch(() => {}); // awaited when the container is written
  const fallbackOptions = { cache: options.cache ?? true };
  const ahead = startSharedFallbacks(config, fallbackOptions);
  const fallbacks = bundled.then(({ bundles }) => bundleSharedFallbacks(config, bundles, ahead, fallbackOptions));
  fallbacks.catch(() => {}); // reported by the Promise.all below
  // The contract check's inputs come beside them too: the baseline release (read before anything is written over
  // it) and each expose's export names and kinds.
  const typing = emitExposeTypes(config);
  typing.catch(() => {}); // reported by the Promise.all below
  const baselineSource = options.baseline ?? config.baseline;
  const baselineLoad =
    baselineSource === false
      ? Promise.resolve({ baseline: undefined as Baseline | undefined, warnings: [] as string[] })
      : loadBaseline({ from: baselineSource, root: config.root, outDir: config.outDir, name: config.name });
  baselineLoad.catch(() => {});
  // Relating the declarations with TypeScript's checker needs no bundle: it starts as soon as the declarations and
  // the baseline are there, while esbuild (another process) is still bundling.
  const decode = (types: readonly { key: string; code: Uint8Array }[]) =>
    new Map(types.map((entry) => [entry.key, new TextDecoder().decode(entry.code)]));
  const typed = Promise.all([typing, baselineLoad]).then(([{ types }, { baseline }]) =>
    baseline ? compareTypes(baseline, decode(types), config.root) : undefined,
  );
  typed.catch(() => {});
  const exporting = exposeExports(config);
  exporting.catch(() => {}); // awaited after the bundles, whose errors (with file and line) come first
  const [{ bundles, chunks, assets: found, warnings }, typesResult, shared] = await Promise.all([
    bundled,
    typing,
    fallbacks,
  ]);
  const [exports, loaded] = await Promise.all([exporting, baselineLoad]);
  warnings.push(...typesResult.warnings, ...loaded.warnings);
  const typedComparison = await typed;
  const contract =
    loaded.baseline && typedComparison
      ? await compareApi(
          loaded.baseline,
          { exports, types: decode(typesResult.types) },
          config.root,
          Promise.resolve(typedComparison),
        )
      : undefined;
  // A breaking change without a new major version (or an override) stops here, before the output folder changes.
  const contractSection = contract
    ? enforceContract(contract, {
        name: config.name,
        version: config.version,
        ...(options.allowBreaking !== undefined ? { override: options.allowBreaking } : {}),
      })
    : undefined;

  await mkdir(config.outDir, { recursive: true });
  const keep = await previousFiles(config.outDir);
  // Every file written is listed in the order its write started.
  const written: OutputFile[] = [];
  const write = (name: string, bytes: Uint8Array, type?: OutputFile['type']): Promise<void> => {
    written.push({ name, size: bytes.byteLength, integrity: integrityOf(bytes), ...(type ? { type } : {}) });
    return writeOutputFile(config.outDir, name, bytes);
  };
  // The files every manifest names by their content (bundles, chunks, maps, assets, declarations, fallbacks) are
  // written side by side: none is reachable before the container and the manifest below name it, and each is whole
  // on disk (temporary file, rename) before those are written.
  const pending: Promise<void>[] = [];
  const start = (name: string, bytes: Uint8Array, type?: OutputFile['type']): Promise<void> => {
    const writing = write(name, bytes, type);
    writing.catch(() => {}); // awaited below, with the others
    pending.push(writing);
    return Promise.resolve();
  };
  // The container (remoteEntry.js, for MF tooling) is CommonJS; without this, a project with "type": "module" makes
  // Node load it as ESM under require(). Bundles and chunks are ES modules that only ferry's loader evaluates.
  await start('package.json', new TextEncoder().encode('{\n  "type": "commonjs"\n}\n'));
  for (const bundle of [...chunks, ...bundles]) {
    await start(bundle.file, bundle.code, 'esm');
    await start(bundle.map, bundle.mapCode);
  }
  const assets = await writeAssets(config, [...new Set([...config.assets, ...found])].sort(), start);
  for (const types of typesResult.types) await start(types.file, types.code);
  for (const { fallback } of shared) if (fallback) await start(fallback.file, fallback.code);
  await Promise.all(pending);
  // The manifest names the container by its content, so a host that read the previous manifest still gets the
  // previous container; `filename` itself is written below, with the same bytes, for Module Federation tooling.
  // The container embeds the size and integrity of every file it may load in a Module Federation host.
  const integrityOfFile = (file: string) => {
    const entry = written.find((candidate) => candidate.name === file);
    if (!entry) throw new BuildError(`The container lists ${file}, which the build did not write (a bug in ferry).`);
    return { size: entry.size, integrity: entry.integrity };
  };
  const containerFiles: ContainerData['files'] = {};
  for (const bundle of [...chunks, ...bundles])
    containerFiles[bundle.file] = { ...integrityOfFile(bundle.file), type: 'esm' };
  const containerShared: ContainerData['shared'] = {};
  for (const { key, options: entry, fallback } of shared) {
    if (fallback) containerFiles[fallback.file] = integrityOfFile(fallback.file);
    containerShared[key] = sharedEntryOf(entry, fallback);
  }
  const containerData: ContainerData = {
    name: config.name,
    version: config.version,
    files: containerFiles,
    exposes: Object.fromEntries(
      bundles.map((bundle) => [
        bundle.key,
        { file: bundle.file, commonjs: bundle.commonjs, chunks: bundle.chunks, shared: bundle.shared },
      ]),
    ),
    shared: containerShared,
    remotes: Object.keys(config.remotes),
  };
  const containerBytes = new TextEncoder().encode(
    createRemoteEntry(config.name, bundles, { runtime: await runtimeScript, data: containerData }),
  );
  const container = containerFileFor(config.filename, containerBytes);
  await write(container, containerBytes);
  const listed = [...written];

  const typesOf = (key: string) => {
    const file = typesResult.types.find((types) => types.key === key)?.file;
    return file === undefined ? {} : { types: file };
  };
  const manifest = createManifest(config, {
    files: listed,
    remoteEntry: container,
    exposes: bundles.map((bundle) => ({
      key: bundle.key,
      name: config.exposes.find((expose) => expose.key === bundle.key)!.name,
      file: bundle.file,
      map: bundle.map,
      ...typesOf(bundle.key),
      chunks: bundle.chunks,
      shared: bundle.shared,
      commonjs: bundle.commonjs,
      exports: exports.get(bundle.key) ?? {},
    })),
    builtAt: new Date(),
    shared,
    assets,
    ...(contractSection ? { contract: contractSection } : {}),
  });
  const manifestBytes = new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`);
  try {
    parseManifest(manifestBytes, MANIFEST_FILE);
  } catch (cause) {
    throw new BuildError(`ferry wrote a manifest it cannot read back (a bug in ferry, please report it).`, { cause });
  }
  // Not listed in the manifest (hosts load the content-addressed container), and rewritten in place: only for MF
  // tooling that loads the container by its configured name.
  await write(config.filename, containerBytes);
  const signature = signing && new TextEncoder().encode(signManifest(manifestBytes, signing.key));
  // An old signature beside a new unsigned manifest would only mislead: remove it before the manifest changes.
  if (!signature) await rm(join(config.outDir, SIGNATURE_FILE), { force: true });
  // Before the manifest: a host that gets the new manifest with the previous mf-manifest.json.sig (two files, written
  // one after the other) finds the signature of the exact bytes it holds under this name.
  if (signature) await write(signatureFileFor(manifestBytes), signature);
  await write(MANIFEST_FILE, manifestBytes);
  if (signature) await write(SIGNATURE_FILE, signature);
  // Kept beside the earlier ones (releases/<release>.json): channels point at them (`ferry release promote`).
  await keepRelease(config.outDir, config.release, manifestBytes, signature || undefined);

  for (const file of written) keep.add(file.name);
  // A build never removes what a kept release lists: `ferry release prune` does.
  for (const name of await keptFiles(config.outDir)) keep.add(name);
  const removed = await cleanOutDir(config.outDir, keep);
  return {
    outDir: config.outDir,
    manifest,
    files: written,
    signed: signing !== undefined,
    ...(signing ? { publicKey: publicKeyOf(signing.key) } : {}),
    removed,
    warnings,
    ...(typesResult.by
      ? {
          declarations: {
            by: typesResult.by,
            ...(typesResult.slowReason !== undefined ? { slowReason: typesResult.slowReason } : {}),
          },
        }
      : {}),
    ...(contract ? { contract } : {}),
    ...(contractSection?.override !== undefined ? { contractOverride: contractSection.override } : {}),
    durationMs: performance.now() - started,
  };
}

function formatSize(bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(1)} kB`;
}

/**
 * A human summary of a build, for the CLI.
 *
 * @example
 * ```ts
 * process.stdout.write(`${formatBuildSummary(await buildRemote())}\n`);
 * ```
 */
export function formatBuildSummary(result: BuildResult, cwd: string = process.cwd()): string {
  const { manifest } = result;
  const width = Math.max(...result.files.map((file) => file.name.length));
  const total = result.files.reduce((sum, file) => sum + file.size, 0);
  const lines = [
    `Built remote ${manifest.name} ${manifest.ferry.version} (release ${manifest.ferry.release}) into ${relative(cwd, result.outDir) || '.'}`,
    ...result.files.map((file) => `  ${file.name.padEnd(width)}  ${formatSize(file.size).padStart(9)}`),
    `  ${`${result.files.length} files`.padEnd(width)}  ${formatSize(total).padStart(9)} total in ${Math.round(result.durationMs)} ms`,
  ];
  if (result.removed.length > 0) lines.push(`Removed ${result.removed.length} file(s) of older builds.`);
  if (result.declarations?.by === 'tsc') {
    // The slow path, said once so a slow build says why; not a warning: the declarations are right either way.
    lines.push(
      `Type declarations written by tsc, because ${result.declarations.slowReason ?? 'the fast path was not available'}. ` +
        "Sources that follow TypeScript's isolatedDeclarations rules get theirs in process, without tsc, in ms.",
    );
  }
  if (result.contract) lines.push(...formatContractSummary(result.contract, result.contractOverride));
  else lines.push('API: no earlier release to compare with (first build, or the check is off).');
  lines.push(`Expires ${manifest.ferry.expires}.`);
  if (result.signed) {
    lines.push(`Signed. Hosts verify it with the public key ${result.publicKey} (pin it as the remote's publicKey).`);
  } else {
    lines.push('Not signed: hosts that pin a key will refuse it. Sign with --sign <key.pem> or FERRY_SIGNING_KEY.');
  }
  return lines.join('\n');
}
