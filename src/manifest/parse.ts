/**
 * Parses manifest bytes into a {@link Manifest} with hand-written guards. Network data is never trusted: every field
 * ferry reads is checked for type and shape, every file name is checked to be a plain relative name, and every file
 * the manifest mentions must be listed (with size and integrity) in `ferry.files`.
 */
import { InvalidManifestError } from '../common/errors.ts';
import { isIntegrity } from './integrity.ts';
import type {
  BreakingChange,
  ContractSection,
  ExportKind,
  ExposeEntry,
  FileEntry,
  Manifest,
  RemoteDependency,
  SharedEntry,
} from './types.ts';
import { FORMAT_VERSION, MAX_RELEASE } from './types.ts';

/** A remote name as Module Federation allows it: a JavaScript identifier (letters, digits, `_`, `$`). */
export const REMOTE_NAME = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
/** A file name in a build output: relative, forward slashes, no `.`/`..` segments, no odd characters. */
const FILE_NAME = /^(?!.*(?:^|\/)\.\.?(?:\/|$))[A-Za-z0-9@_-][A-Za-z0-9@._-]*(?:\/[A-Za-z0-9@_-][A-Za-z0-9@._-]*)*$/;
/** An expose key as written in `exposes`: `.` or `./path`. */
const EXPOSE_KEY = /^\.(?:\/[A-Za-z0-9@_$-][A-Za-z0-9@._$-]*)*$/;

type Json = Record<string, unknown>;

/** True for a file name that may appear in a manifest and be served from a build folder. */
export function isSafeFileName(name: string): boolean {
  return name.length <= 255 && FILE_NAME.test(name);
}

/** True for an expose key such as `./tokenValidator`. */
export function isExposeKey(key: string): boolean {
  return key.length <= 255 && EXPOSE_KEY.test(key);
}

/** Where in the document a value sits, for error messages. */
interface Reader {
  source: string;
  path: string;
}

function at(source: string, path: string): Reader {
  return { source, path };
}

function fail(where: Reader, message: string): never {
  throw new InvalidManifestError(
    `Invalid manifest from ${where.source}: ${where.path || 'the document'} ${message}. ` +
      'Rebuild the remote with `ferry build` and serve the new output folder unchanged.',
    { url: where.source },
  );
}

function object(value: unknown, where: Reader): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(where, 'must be an object');
  return value as Json;
}

function field(obj: Json, key: string, parent: Reader): { value: unknown; at: Reader } {
  const path = parent.path ? `${parent.path}.${key}` : key;
  return { value: Object.hasOwn(obj, key) ? obj[key] : undefined, at: at(parent.source, path) };
}

function str(obj: Json, key: string, parent: Reader, test?: (s: string) => boolean): string {
  const { value, at } = field(obj, key, parent);
  if (typeof value !== 'string') fail(at, 'must be a string');
  if (test && !test(value)) fail(at, `has an invalid value ${JSON.stringify(value).slice(0, 80)}`);
  return value;
}

function bool(obj: Json, key: string, parent: Reader): boolean {
  const { value, at } = field(obj, key, parent);
  if (typeof value !== 'boolean') fail(at, 'must be true or false');
  return value;
}

function integer(obj: Json, key: string, parent: Reader, min: number): number {
  const { value, at } = field(obj, key, parent);
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    fail(at, `must be a whole number of at least ${min}`);
  }
  return value;
}

/** `ferry.release`: a whole number from 0 to {@link MAX_RELEASE} (a higher one could never be exceeded later). */
function release(obj: Json, parent: Reader): number {
  const value = integer(obj, 'release', parent, 0);
  if (value > MAX_RELEASE) {
    fail(
      at(parent.source, `${parent.path}.release`),
      `is ${value}, above the highest release ferry accepts (${MAX_RELEASE}); a host that accepted it could never ` +
        'accept a later build. Build with a lower `release` (the default, Date.now(), is far below the limit)',
    );
  }
  return value;
}

function strings(obj: Json, key: string, parent: Reader): string[] {
  const { value, at } = field(obj, key, parent);
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) fail(at, 'must be a list of strings');
  return value as string[];
}

function sub(obj: Json, key: string, parent: Reader): { value: Json; at: Reader } {
  const { value, at } = field(obj, key, parent);
  return { value: object(value, at), at };
}

function isDate(text: string): boolean {
  return /^\d{4}-\d{2}-\d{2}T/.test(text) && !Number.isNaN(Date.parse(text));
}

function parseFiles(obj: Json, where: Reader): Record<string, FileEntry> {
  const files: Record<string, FileEntry> = Object.create(null);
  for (const [name, raw] of Object.entries(obj)) {
    const entryAt = at(where.source, `${where.path}[${JSON.stringify(name)}]`);
    if (!isSafeFileName(name)) fail(entryAt, 'is not a plain relative file name');
    const entry = object(raw, entryAt);
    files[name] = {
      size: integer(entry, 'size', entryAt, 0),
      integrity: str(entry, 'integrity', entryAt, isIntegrity),
    };
    if (entry.type !== undefined) {
      files[name].type = str(entry, 'type', entryAt, (type) => type === 'esm' || type === 'asset') as 'esm' | 'asset';
    }
  }
  return files;
}

function parseExposes(obj: Json, where: Reader, files: Record<string, FileEntry>): Record<string, ExposeEntry> {
  const exposes: Record<string, ExposeEntry> = Object.create(null);
  const listed = (name: string) => Object.hasOwn(files, name);
  for (const [key, raw] of Object.entries(obj)) {
    const entryAt = at(where.source, `${where.path}[${JSON.stringify(key)}]`);
    if (!isExposeKey(key)) fail(entryAt, 'is not an expose key like "./name"');
    const entry = object(raw, entryAt);
    const expose: ExposeEntry = {
      file: str(entry, 'file', entryAt, listed),
      shared: strings(entry, 'shared', entryAt),
    };
    if (entry.map !== undefined) expose.map = str(entry, 'map', entryAt, listed);
    if (entry.chunks !== undefined) {
      expose.chunks = strings(entry, 'chunks', entryAt);
      if (!expose.chunks.every(listed)) fail(entryAt, 'names a chunk that ferry.files does not list');
    }
    if (entry.types !== undefined) expose.types = str(entry, 'types', entryAt, listed);
    if (entry.exports !== undefined) expose.exports = parseExports(entry, entryAt);
    if (entry.commonjs !== undefined) expose.commonjs = bool(entry, 'commonjs', entryAt);
    exposes[key] = expose;
  }
  return exposes;
}

const EXPORT_KINDS: readonly string[] = ['function', 'class', 'value'] satisfies ExportKind[];

function parseExports(entry: Json, where: Reader): Record<string, ExportKind> {
  const { value, at: exportsAt } = sub(entry, 'exports', where);
  const exports: Record<string, ExportKind> = Object.create(null);
  for (const name of Object.keys(value)) {
    exports[name] = str(value, name, exportsAt, (kind) => EXPORT_KINDS.includes(kind)) as ExportKind;
  }
  return exports;
}

function parseContract(ferry: Json, ferryAt: Reader): ContractSection {
  const { value: obj, at: where } = sub(ferry, 'contract', ferryAt);
  const checked = str(obj, 'checked', where, (value) => value === 'types' || value === 'names');
  const { value: list, at: listAt } = field(obj, 'breaking', where);
  if (!Array.isArray(list)) fail(listAt, 'must be a list');
  const breaking: BreakingChange[] = list.map((raw, index) => {
    const itemAt = at(where.source, `${listAt.path}[${index}]`);
    const item = object(raw, itemAt);
    return {
      expose: str(item, 'expose', itemAt),
      export: str(item, 'export', itemAt),
      change: str(item, 'change', itemAt),
    };
  });
  const contract: ContractSection = {
    baseline: str(obj, 'baseline', where),
    checked: checked as ContractSection['checked'],
    breaking,
  };
  if (obj.override !== undefined) contract.override = str(obj, 'override', where);
  return contract;
}

function parseShared(obj: Json, where: Reader, files: Record<string, FileEntry>): Record<string, SharedEntry> {
  const shared: Record<string, SharedEntry> = Object.create(null);
  for (const [name, raw] of Object.entries(obj)) {
    const entryAt = at(where.source, `${where.path}[${JSON.stringify(name)}]`);
    const entry = object(raw, entryAt);
    const required = entry.requiredVersion === false ? false : str(entry, 'requiredVersion', entryAt);
    const fallback = entry.fallback === false ? false : str(entry, 'fallback', entryAt, (f) => Object.hasOwn(files, f));
    shared[name] = {
      version: str(entry, 'version', entryAt),
      requiredVersion: required,
      singleton: bool(entry, 'singleton', entryAt),
      strictVersion: bool(entry, 'strictVersion', entryAt),
      eager: bool(entry, 'eager', entryAt),
      shareScope: str(entry, 'shareScope', entryAt),
      fallback,
    };
  }
  return shared;
}

function parseAssets(raw: unknown, where: Reader, files: Record<string, FileEntry>): Record<string, string> {
  const assets: Record<string, string> = Object.create(null);
  for (const [path, file] of Object.entries(object(raw, where))) {
    const entryAt = at(where.source, `${where.path}[${JSON.stringify(path)}]`);
    // The path is where the file is laid out on the host: a plain relative path, like a file name.
    if (!isSafeFileName(path)) fail(entryAt, 'is not a plain relative path');
    if (typeof file !== 'string' || files[file]?.type !== 'asset')
      fail(entryAt, 'must name an asset that ferry.files lists');
    assets[path] = file;
  }
  return assets;
}

function parseRemotes(raw: unknown, where: Reader): Record<string, RemoteDependency> {
  const remotes: Record<string, RemoteDependency> = Object.create(null);
  for (const [key, value] of Object.entries(object(raw, where))) {
    const entryAt = at(where.source, `${where.path}[${JSON.stringify(key)}]`);
    if (!REMOTE_NAME.test(key)) fail(entryAt, 'is not a remote name');
    const entry = object(value, entryAt);
    const dependency: RemoteDependency = {
      name: str(entry, 'name', entryAt, (name) => REMOTE_NAME.test(name)),
      url: str(entry, 'url', entryAt, (url) => /^https?:\/\//.test(url) && URL.canParse(url)),
    };
    if (entry.versionRange !== undefined) dependency.versionRange = str(entry, 'versionRange', entryAt);
    if (entry.publicKey !== undefined) dependency.publicKey = strings(entry, 'publicKey', entryAt);
    remotes[key] = dependency;
  }
  return remotes;
}

/**
 * Parses and checks manifest bytes. `source` (a URL or path) is named in every error.
 *
 * @example
 * ```ts
 * const manifest = parseManifest(await readFile('dist/mf-manifest.json'), 'dist/mf-manifest.json');
 * console.log(manifest.name, manifest.ferry.version);
 * ```
 */
export function parseManifest(bytes: Uint8Array | string, source: string): Manifest {
  const root = at(source, '');
  let data: unknown;
  try {
    data = JSON.parse(typeof bytes === 'string' ? bytes : new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (cause) {
    throw new InvalidManifestError(
      `Invalid manifest from ${source}: it is not valid JSON (${(cause as Error).message}). ` +
        'Check that the URL points at the mf-manifest.json of a `ferry build` output.',
      { url: source, cause },
    );
  }
  const doc = object(data, root);
  const name = str(doc, 'name', root, (n) => REMOTE_NAME.test(n));
  str(doc, 'id', root);
  object(doc.metaData, at(source, 'metaData'));
  if (!Array.isArray(doc.exposes)) fail(at(source, 'exposes'), 'must be a list');
  if (!Array.isArray(doc.shared)) fail(at(source, 'shared'), 'must be a list');

  const { value: ferry, at: ferryAt } = sub(doc, 'ferry', root);
  const formatVersion = integer(ferry, 'formatVersion', ferryAt, 1);
  if (formatVersion !== FORMAT_VERSION) {
    fail(
      at(source, 'ferry.formatVersion'),
      `is ${formatVersion}, and this ferry reads format ${FORMAT_VERSION}; upgrade ferry on the host`,
    );
  }
  const { value: filesObj, at: filesAt } = sub(ferry, 'files', ferryAt);
  const files = parseFiles(filesObj, filesAt);
  const { value: exposesObj, at: exposesAt } = sub(ferry, 'exposes', ferryAt);
  const { value: sharedObj, at: sharedAt } = sub(ferry, 'shared', ferryAt);
  const section = {
    formatVersion,
    version: str(ferry, 'version', ferryAt),
    release: release(ferry, ferryAt),
    builtAt: str(ferry, 'builtAt', ferryAt, isDate),
    expires: str(ferry, 'expires', ferryAt, isDate),
    remoteEntry: str(ferry, 'remoteEntry', ferryAt, (f) => Object.hasOwn(files, f)),
    files,
    exposes: parseExposes(exposesObj, exposesAt, files),
    shared: parseShared(sharedObj, sharedAt, files),
    ...(ferry.assets === undefined ? {} : { assets: parseAssets(ferry.assets, at(source, 'ferry.assets'), files) }),
    ...(ferry.remotes === undefined ? {} : { remotes: parseRemotes(ferry.remotes, at(source, 'ferry.remotes')) }),
    ...(ferry.contract === undefined ? {} : { contract: parseContract(ferry, ferryAt) }),
  };
  for (const [key, expose] of Object.entries(section.exposes)) {
    for (const pkg of expose.shared) {
      if (!Object.hasOwn(section.shared, pkg)) {
        fail(at(source, `ferry.exposes[${JSON.stringify(key)}].shared`), `names ${pkg}, which is not in ferry.shared`);
      }
    }
  }
  return { ...(doc as unknown as Manifest), name, ferry: section };
}
