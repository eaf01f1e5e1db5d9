/**
 * The build configuration: found, loaded and validated once, then frozen. Every problem is an
 * {@link InvalidOptionError} naming the option, the file and the fix; a missing expose file is an
 * {@link ExposeNotFoundError} naming the expose and the path that was tried.
 */
import { globSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { InvalidOptionError } from '../common/errors.ts';
import { invalidOption, isPlainObject, type OptionSource, rejectUnknownKeys } from '../common/options.ts';
import * as semver from '../common/semver.ts';
import {
  isSafeFileName,
  MANIFEST_FILE,
  MAX_RELEASE,
  normalisePublicKey,
  REMOTE_NAME,
  type RemoteDependency,
  SIGNATURE_FILE,
} from '../manifest/index.ts';
import { findConfigFile, loadConfigFile } from './config-file.ts';
import { type ResolvedExpose, resolveExposes } from './exposes.ts';
import { type PackageJson, type ResolvedShared, resolveShared } from './shared.ts';

export type { ResolvedExpose } from './exposes.ts';

/** The validated, frozen configuration a build runs from. All paths are absolute. */
export interface ResolvedConfig {
  readonly root: string;
  readonly configFile: string;
  readonly name: string;
  readonly version: string;
  readonly exposes: readonly ResolvedExpose[];
  readonly shared: Readonly<Record<string, ResolvedShared>>;
  readonly outDir: string;
  readonly filename: string;
  readonly release: number;
  /** Seconds from the build until hosts refuse the manifest. */
  readonly expiresIn: number;
  /** Absolute path of the signing key named in the config, if any. */
  readonly sign?: string;
  /** Emit type declarations for the exposes (needs `typescript` installed in the project). */
  readonly dts: boolean;
  /** The files the `assets` globs match, relative to the root (`/`-separated, sorted). */
  readonly assets: readonly string[];
  /** The remotes the code imports, by the name the code uses. */
  readonly remotes: Readonly<Record<string, RemoteDependency>>;
  /** The release the contract check compares with (a URL or a folder), `false` for none; default the outDir's. */
  readonly baseline?: string | false;
}

/** Where to load the configuration from, and the overrides the CLI passes. */
export interface LoadConfigOptions {
  /** The project root. Default `process.cwd()`. */
  root?: string;
  /** A config file (relative to `root`) instead of looking for `ferry.config.*`. */
  configFile?: string;
  /** Replaces the config's `outDir` (relative to `root`). */
  outDir?: string;
}

const KNOWN = [
  'name',
  'exposes',
  'shared',
  'version',
  'outDir',
  'filename',
  'release',
  'expiresIn',
  'sign',
  'dts',
  'assets',
  'remotes',
  'baseline',
  '$schema',
];

const REJECTED: Record<string, string> = {
  library: 'ferry always emits a CommonJS container (remoteEntry.js exporting get and init); remove `library`.',
  remoteType: 'ferry containers are always CommonJS modules fetched by the host runtime; remove `remoteType`.',
  runtimePlugins: 'ferry has no runtime plugins; configure hosts with createHost() options instead.',
  manifest: 'ferry always writes mf-manifest.json beside remoteEntry.js; remove `manifest`.',
  shareScope: 'set the share scope per package: shared: { pkg: { shareScope: "…" } }.',
  shareStrategy: 'the strategy is chosen by the host (createHost), not the remote; remove it.',
  runtime: 'ferry containers have no separate runtime chunk; remove `runtime`.',
  getPublicPath: 'ferry never runs code from the manifest; hosts take file URLs from the manifest URL they fetch.',
  publicPath: 'hosts resolve files relative to the manifest URL they fetch; remove `publicPath`.',
  implementation: 'ferry bundles with esbuild; remove `implementation`.',
  experiments: 'ferry has no Module Federation experiments; remove `experiments`.',
  dev: 'ferry has no dev mode options; remove `dev`.',
  virtualRuntimeEntry: 'ferry has no runtime entry; remove it.',
};

const ALIASES: Record<string, string> = {
  expose: 'exposes',
  out: 'outDir',
  outdir: 'outDir',
  output: 'outDir',
  outputDir: 'outDir',
  dist: 'outDir',
  remoteEntry: 'filename',
  fileName: 'filename',
  key: 'sign',
  signingKey: 'sign',
  privateKey: 'sign',
  expires: 'expiresIn',
  ttl: 'expiresIn',
  share: 'shared',
};

const DAY = 86_400;
const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: DAY, w: 7 * DAY };

/** Seconds from a number of seconds or a string such as `'90d'`. */
function parseExpiresIn(raw: unknown, source: OptionSource): number {
  if (raw === undefined) return 90 * DAY;
  if (typeof raw === 'number' && Number.isSafeInteger(raw) && raw > 0) return raw;
  const match = typeof raw === 'string' ? /^(\d+)\s*([smhdw])$/.exec(raw.trim()) : null;
  const seconds = match ? Number(match[1]) * UNITS[match[2]!]! : 0;
  if (!Number.isSafeInteger(seconds) || seconds <= 0) {
    invalidOption(
      source,
      'expiresIn',
      `must be a positive number of seconds or a duration such as "90d", "12h", "30m", got ${JSON.stringify(raw)}.`,
    );
  }
  return seconds;
}

function inside(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

function resolveOutDir(
  raw: unknown,
  root: string,
  exposes: ResolvedExpose[],
  configFile: string,
  source: OptionSource,
) {
  if (raw !== undefined && (typeof raw !== 'string' || raw === '')) {
    invalidOption(source, 'outDir', 'must be a folder path such as "dist/federation".');
  }
  const outDir = resolve(root, (raw as string | undefined) ?? 'dist/federation');
  if (inside(outDir, root)) {
    invalidOption(
      source,
      'outDir',
      `is ${outDir}, which is or contains the project root; ferry cleans its output folder, so use a folder of its own such as "dist/federation".`,
    );
  }
  for (const file of [configFile, ...exposes.map((expose) => expose.import)]) {
    if (inside(outDir, file)) {
      invalidOption(source, 'outDir', `is ${outDir}, which contains the source ${file}; use a separate output folder.`);
    }
  }
  return outDir;
}

async function readPackageJson(root: string): Promise<PackageJson> {
  const file = resolve(root, 'package.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return {};
  }
  try {
    const pkg = JSON.parse(text);
    return isPlainObject(pkg) ? pkg : {};
  } catch (cause) {
    throw new InvalidOptionError(`${file} is not valid JSON (${(cause as Error).message}); fix it and build again.`, {
      file,
      cause,
    });
  }
}

/**
 * Validates a raw configuration (what the config file exported) and returns it resolved and frozen.
 *
 * @example
 * ```ts
 * const config = await resolveConfig({ name: 'auth', exposes: { './a': './src/a.ts' } }, {
 *   root: '/srv/auth',
 *   configFile: '/srv/auth/ferry.config.ts',
 * });
 * ```
 */
export async function resolveConfig(
  raw: unknown,
  context: { root: string; configFile: string; outDir?: string },
): Promise<ResolvedConfig> {
  const { root, configFile } = context;
  const source: OptionSource = { file: configFile, label: relative(root, configFile) || configFile };
  if (!isPlainObject(raw)) {
    throw new InvalidOptionError(
      `${source.label}: the default export must be an object (export default defineRemote({ name, exposes })), got ${raw === null ? 'null' : typeof raw}.`,
      { file: configFile },
    );
  }
  rejectUnknownKeys(raw, { source }, { known: KNOWN, rejected: REJECTED, aliases: ALIASES });

  if (raw.name === undefined) invalidOption(source, 'name', "is required: the remote's name hosts import it by.");
  if (typeof raw.name !== 'string' || !REMOTE_NAME.test(raw.name)) {
    invalidOption(
      source,
      'name',
      `must be a JavaScript identifier such as "authService" (letters, digits, _ and $), got ${JSON.stringify(raw.name)}.`,
    );
  }
  const packageJson = await readPackageJson(root);
  const version = raw.version ?? packageJson.version;
  if (typeof version !== 'string' || semver.valid(version) === null) {
    const from = raw.version === undefined ? "(taken from package.json's version) " : '';
    invalidOption(
      source,
      'version',
      `${from}must be a semver version such as "1.2.0", got ${JSON.stringify(version)}.`,
    );
  }
  const exposes = await resolveExposes(raw.exposes, root, source);
  const shared = await resolveShared(raw.shared, { root, packageJson, source });

  const filename = raw.filename ?? 'remoteEntry.js';
  if (
    typeof filename !== 'string' ||
    !isSafeFileName(filename) ||
    filename.includes('/') ||
    !filename.endsWith('.js') ||
    filename === MANIFEST_FILE ||
    filename === SIGNATURE_FILE
  ) {
    invalidOption(
      source,
      'filename',
      `must be a plain file name ending in .js such as "remoteEntry.js", got ${JSON.stringify(filename)}.`,
    );
  }
  const release = raw.release ?? Date.now();
  if (typeof release !== 'number' || !Number.isSafeInteger(release) || release <= 0) {
    invalidOption(
      source,
      'release',
      `must be a positive whole number that goes up with every build, got ${JSON.stringify(release)}.`,
    );
  }
  // Hosts never accept a release lower than one they saw: one nothing can exceed would lock them out (MAX_RELEASE).
  if (release > MAX_RELEASE) {
    invalidOption(
      source,
      'release',
      `is ${release}, above the highest release ferry allows (${MAX_RELEASE}): hosts that accepted it could never ` +
        'accept a later build. Leave `release` out (it defaults to Date.now(), in milliseconds) or use a smaller ' +
        'counter that goes up with every build.',
    );
  }
  if (raw.sign !== undefined && (typeof raw.sign !== 'string' || raw.sign === '')) {
    invalidOption(source, 'sign', 'must be the path of a PEM private key written by `ferry keygen`.');
  }
  if (raw.dts !== undefined && typeof raw.dts !== 'boolean') {
    invalidOption(
      source,
      'dts',
      `must be true or false (emit type declarations for hosts), got ${JSON.stringify(raw.dts)}.`,
    );
  }
  const outDir = resolveOutDir(context.outDir ?? raw.outDir, root, exposes, configFile, source);
  const assets = resolveAssets(raw.assets, root, outDir, source);
  const remotes = resolveRemotes(raw.remotes, raw.name, Object.keys(shared), source);
  const baseline = raw.baseline;
  if (baseline !== undefined && baseline !== false && (typeof baseline !== 'string' || baseline === '')) {
    invalidOption(
      source,
      'baseline',
      `must be the URL the remote is served at (its manifest or folder URL), a build output folder, or false, got ${JSON.stringify(baseline)}.`,
    );
  }

  return Object.freeze({
    root,
    configFile,
    name: raw.name,
    version,
    exposes: Object.freeze(exposes),
    shared: Object.freeze(shared),
    outDir,
    filename,
    release,
    expiresIn: parseExpiresIn(raw.expiresIn, source),
    dts: raw.dts !== false,
    assets,
    remotes,
    ...(baseline !== undefined ? { baseline } : {}),
    ...(typeof raw.sign === 'string' ? { sign: resolve(root, raw.sign) } : {}),
  });
}

/** The `remotes` option: `{ key: 'name@url' | { url, name?, versionRange?, publicKey? } }`, checked and normalised. */
function resolveRemotes(
  raw: unknown,
  self: string,
  shared: readonly string[],
  source: OptionSource,
): Record<string, RemoteDependency> {
  const out: Record<string, RemoteDependency> = {};
  if (raw === undefined) return out;
  if (!isPlainObject(raw)) {
    invalidOption(
      source,
      'remotes',
      "must be an object such as { pricing: 'pricing@https://pricing.example.com/mf-manifest.json' }.",
    );
  }
  for (const [key, value] of Object.entries(raw)) {
    const option = `remotes.${key}`;
    if (!REMOTE_NAME.test(key)) invalidOption(source, option, 'must be named like a JavaScript identifier.');
    if (shared.some((name) => name === key || name.startsWith(`${key}/`))) {
      invalidOption(
        source,
        option,
        `names "${key}", which is also in \`shared\`: an import of ${key}/… would be ambiguous.`,
      );
    }
    let spec: { url?: unknown; name?: unknown; versionRange?: unknown; publicKey?: unknown };
    if (typeof value === 'string') {
      const at = value.indexOf('@');
      spec =
        /^https?:\/\//i.test(value) || at <= 0
          ? { url: value }
          : { name: value.slice(0, at), url: value.slice(at + 1) };
    } else if (isPlainObject(value)) {
      rejectUnknownKeys(value, { source, parent: option }, { known: ['url', 'name', 'versionRange', 'publicKey'] });
      spec = value;
    } else {
      return invalidOption(source, option, 'must be "name@url" or { url, name?, versionRange?, publicKey? }.');
    }
    const name = spec.name ?? key;
    if (typeof name !== 'string' || !REMOTE_NAME.test(name))
      invalidOption(source, `${option}.name`, 'must be a remote name.');
    if (name === self) invalidOption(source, option, `is this remote itself ("${self}"): a remote cannot use itself.`);
    let url: URL | undefined;
    try {
      url = typeof spec.url === 'string' ? new URL(spec.url) : undefined;
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password) {
      return invalidOption(
        source,
        `${option}.url`,
        `must be the http(s) URL of its mf-manifest.json, got ${JSON.stringify(spec.url)}.`,
      );
    }
    const manifestUrl =
      url.pathname.endsWith('/') || url.pathname.endsWith('.js') ? new URL(MANIFEST_FILE, url).href : url.href;
    const dependency: RemoteDependency = { name, url: manifestUrl };
    if (spec.versionRange !== undefined) {
      if (typeof spec.versionRange !== 'string' || !semver.isValidRange(spec.versionRange)) {
        invalidOption(
          source,
          `${option}.versionRange`,
          `must be a semver range such as "^1", got ${JSON.stringify(spec.versionRange)}.`,
        );
      }
      dependency.versionRange = spec.versionRange;
    }
    if (spec.publicKey !== undefined) {
      const keys = [spec.publicKey].flat();
      if (keys.length === 0 || keys.some((key) => typeof key !== 'string')) {
        invalidOption(source, `${option}.publicKey`, 'must be a key printed by `ferry keygen`, or a list of them.');
      }
      dependency.publicKey = (keys as string[]).map((key, index) =>
        normalisePublicKey(key, `${option}.publicKey${keys.length > 1 ? `[${index}]` : ''}`),
      );
    }
    out[key] = dependency;
  }
  return out;
}

/** The files the `assets` globs match (node:fs globSync, relative to the root), outside the output folder. */
function resolveAssets(raw: unknown, root: string, outDir: string, source: OptionSource): string[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw) || raw.some((pattern) => typeof pattern !== 'string' || pattern === '')) {
    invalidOption(
      source,
      'assets',
      'must be a list of glob patterns relative to the project root, such as ["src/data/**"].',
    );
  }
  const found = new Set<string>();
  for (const pattern of raw as string[]) {
    if (isAbsolute(pattern) || pattern.split('/').includes('..')) {
      invalidOption(
        source,
        'assets',
        `has ${JSON.stringify(pattern)}; patterns are relative to the project root and stay inside it.`,
      );
    }
    const matches = globSync(pattern, { cwd: root, withFileTypes: true }).filter((entry) => entry.isFile());
    if (matches.length === 0) {
      invalidOption(source, 'assets', `has ${JSON.stringify(pattern)}, which matches no file under ${root}.`);
    }
    for (const entry of matches) {
      const path = join(entry.parentPath, entry.name);
      const inOut = relative(outDir, path);
      if (!inOut.startsWith('..') && !isAbsolute(inOut)) continue; // never ship the output folder itself
      found.add(relative(root, path).split(sep).join('/'));
    }
  }
  return [...found].sort();
}

/**
 * Finds, loads and validates the project's `ferry.config.*`.
 *
 * @example
 * ```ts
 * const config = await loadConfig({ root: '/srv/auth' });
 * console.log(config.name, config.exposes.map((e) => e.key));
 * ```
 */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<ResolvedConfig> {
  const root = resolve(options.root ?? process.cwd());
  const configFile = await findConfigFile(root, options.configFile);
  const raw = await loadConfigFile(configFile, root);
  return resolveConfig(raw, { root, configFile, ...(options.outDir !== undefined ? { outDir: options.outDir } : {}) });
}

/** The folder a config file lives in: the default project root when only `--config` is given. */
export function configRoot(configFile: string): string {
  return dirname(resolve(configFile));
}
