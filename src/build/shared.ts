/**
 * Resolving the `shared` option: Module Federation's per-package options, with MF's defaults taken from the project
 * (`requiredVersion` from package.json, `version` from the installed package).
 */
import { readFile } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { dirname, join } from 'node:path';
import { invalidOption, isPlainObject, type OptionSource, optionPath, rejectUnknownKeys } from '../common/options.ts';
import * as semver from '../common/semver.ts';

/** One shared package after validation, with every default filled in. */
export interface ResolvedShared {
  /** The version this remote was built against. */
  version: string;
  requiredVersion: string | false;
  singleton: boolean;
  strictVersion: boolean;
  eager: boolean;
  shareScope: string;
  /** False when the remote brings no copy of its own (`import: false`). */
  import: boolean;
  /** The package the defaults were read from. */
  packageName: string;
}

/** The fields of package.json that matter here. */
export interface PackageJson {
  name?: unknown;
  version?: unknown;
  dependencies?: unknown;
  peerDependencies?: unknown;
  devDependencies?: unknown;
}

const SHARED_KEYS = [
  'singleton',
  'requiredVersion',
  'strictVersion',
  'eager',
  'shareScope',
  'version',
  'import',
  'packageName',
] as const;

const REJECTED_SHARED: Record<string, string> = {
  shareKey: 'the key of `shared` is the name the code requires; rename the key instead.',
  request: 'the key of `shared` is the request; rename the key instead.',
  layer: 'ferry has no webpack layers; remove it.',
  issuerLayer: 'ferry has no webpack layers; remove it.',
};

const PACKAGE_NAME = /^(?:@[a-z0-9~-][a-z0-9._~-]*\/)?[a-z0-9~-][a-z0-9._~-]*$/i;
/** A key of `shared`: a package, a deep import (`lodash/fp`), or a prefix ending in `/` (`lodash/`). */
const SHARED_KEY = /^(?:@[a-z0-9~-][a-z0-9._~-]*\/)?[a-z0-9~-][a-z0-9._~-]*(?:\/[a-z0-9@~_.-]+)*\/?$/i;

/** The npm package a shared key belongs to: `lodash/` and `lodash/fp` -> `lodash`, `@a/b/c` -> `@a/b`. */
export function packageOfKey(key: string): string {
  const parts = key.split('/');
  return key.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/**
 * The share key a request the code makes belongs to, or undefined when it is not shared. An exact key wins; a key
 * ending in `/` covers every request under it, each negotiated on its own (as in Module Federation, `lodash/` makes
 * `lodash/fp` a shared module of its own); a package key also covers its deep imports, which come from the same copy.
 *
 * @example
 * ```ts
 * sharedKeyOf('lodash/fp', ['lodash/']); // 'lodash/fp'
 * sharedKeyOf('jsonwebtoken/lib/x', ['jsonwebtoken']); // 'jsonwebtoken'
 * ```
 */
export function sharedKeyOf(request: string, keys: readonly string[]): string | undefined {
  if (keys.includes(request)) return request;
  const prefix = keys
    .filter((key) => key.endsWith('/') && request.startsWith(key) && request.length > key.length)
    .sort((a, b) => b.length - a.length)[0];
  if (prefix !== undefined) return request;
  return keys.find((key) => !key.endsWith('/') && request.startsWith(`${key}/`));
}

/** Reads the installed package's version, walking `node_modules` up from `root` like Node's resolver. */
async function installedVersion(root: string, packageName: string): Promise<string | undefined> {
  for (let dir = root; ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(await readFile(join(dir, 'node_modules', packageName, 'package.json'), 'utf8'));
      if (typeof pkg?.version === 'string') return pkg.version;
    } catch {
      // Not installed at this level (or unreadable): keep walking up, as Node does.
    }
    if (dirname(dir) === dir) return undefined;
  }
}

/** The range the project's package.json declares for a package, if it is a semver range. */
function declaredRange(pkg: PackageJson, packageName: string): string | undefined {
  for (const field of [pkg.dependencies, pkg.peerDependencies, pkg.devDependencies]) {
    if (!isPlainObject(field)) continue;
    const range = field[packageName];
    if (typeof range === 'string' && semver.isValidRange(range)) return range;
  }
  return undefined;
}

function optionalBoolean(entry: Record<string, unknown>, key: string, option: string, source: OptionSource): boolean {
  const value = entry[key];
  if (value === undefined) return false;
  if (typeof value !== 'boolean')
    invalidOption(source, `${option}.${key}`, `must be true or false, got ${JSON.stringify(value)}.`);
  return value;
}

async function resolveOne(
  name: string,
  raw: unknown,
  context: { root: string; packageJson: PackageJson; source: OptionSource },
): Promise<ResolvedShared> {
  const { source } = context;
  const option = optionPath('shared', name);
  if (!SHARED_KEY.test(name)) {
    invalidOption(
      source,
      option,
      'is not a package name. Share a package by its npm name (its deep imports "pkg/sub" come with it), one deep ' +
        'import ("lodash/fp"), or every deep import under a prefix ending in "/" ("lodash/").',
    );
  }
  if (isBuiltin(packageOfKey(name)))
    invalidOption(source, option, 'is a Node builtin; builtins are never bundled, so remove it.');
  if (!isPlainObject(raw)) {
    invalidOption(source, option, `must be an object of sharing options (or true), got ${JSON.stringify(raw)}.`);
  }
  rejectUnknownKeys(raw, { source, parent: option }, { known: SHARED_KEYS, rejected: REJECTED_SHARED });

  let packageName = packageOfKey(name);
  if (raw.packageName !== undefined) {
    if (typeof raw.packageName !== 'string' || !PACKAGE_NAME.test(raw.packageName)) {
      invalidOption(source, `${option}.packageName`, 'must be an npm package name.');
    }
    packageName = raw.packageName;
  }
  if (raw.import !== undefined && raw.import !== false) {
    invalidOption(
      source,
      `${option}.import`,
      'may only be false (the remote brings no fallback copy, a host must provide it); without it the remote ' +
        'brings a copy of the installed package.',
    );
  }
  let shareScope = 'default';
  if (raw.shareScope !== undefined) {
    if (typeof raw.shareScope !== 'string' || raw.shareScope === '') {
      invalidOption(source, `${option}.shareScope`, 'must be a non-empty string such as "default".');
    }
    shareScope = raw.shareScope;
  }

  let version: string;
  if (raw.version !== undefined) {
    if (typeof raw.version !== 'string' || semver.valid(raw.version) === null) {
      invalidOption(
        source,
        `${option}.version`,
        `must be a semver version such as "1.2.3", got ${JSON.stringify(raw.version)}.`,
      );
    }
    version = raw.version;
  } else {
    const installed = await installedVersion(context.root, packageName);
    if (installed === undefined) {
      invalidOption(
        source,
        option,
        `names ${packageName}, which is not installed (no node_modules/${packageName}/package.json from ${context.root} ` +
          `upward). Install it (npm install ${packageName}) or set ${option}.version.`,
      );
    }
    version = installed;
  }

  let requiredVersion: string | false;
  if (raw.requiredVersion === false) requiredVersion = false;
  else if (raw.requiredVersion !== undefined) {
    if (typeof raw.requiredVersion !== 'string' || !semver.isValidRange(raw.requiredVersion)) {
      invalidOption(
        source,
        `${option}.requiredVersion`,
        `must be a semver range such as "^9.0.0" or false, got ${JSON.stringify(raw.requiredVersion)}.`,
      );
    }
    requiredVersion = raw.requiredVersion;
  } else {
    // MF reads the range from package.json; without one, accept what this remote was built against and newer minors.
    requiredVersion = declaredRange(context.packageJson, packageName) ?? `^${version}`;
  }

  return {
    version,
    requiredVersion,
    singleton: optionalBoolean(raw, 'singleton', option, source),
    strictVersion: optionalBoolean(raw, 'strictVersion', option, source),
    eager: optionalBoolean(raw, 'eager', option, source),
    shareScope,
    import: raw.import !== false,
    packageName,
  };
}

/**
 * Validates `shared` (a list of names or an object of options) and fills in versions.
 *
 * @example
 * ```ts
 * await resolveShared({ jsonwebtoken: { singleton: true } }, { root, packageJson, source });
 * // { jsonwebtoken: { version: '9.0.3', requiredVersion: '^9.0.0', singleton: true, … } }
 * ```
 */
export async function resolveShared(
  raw: unknown,
  context: { root: string; packageJson: PackageJson; source: OptionSource },
): Promise<Record<string, ResolvedShared>> {
  const shared: Record<string, ResolvedShared> = Object.create(null);
  if (raw === undefined) return shared;
  let entries: Array<[string, unknown]>;
  if (Array.isArray(raw)) {
    entries = raw.map((name, index) => {
      if (typeof name !== 'string') invalidOption(context.source, `shared[${index}]`, 'must be a package name string.');
      return [name, {}];
    });
  } else if (isPlainObject(raw)) {
    entries = Object.entries(raw).map(([name, value]) => [name, value === true ? {} : value]);
  } else {
    invalidOption(context.source, 'shared', 'must be a list of package names or an object { name: { singleton, … } }.');
  }
  for (const [name, value] of entries) {
    if (Object.hasOwn(shared, name)) invalidOption(context.source, optionPath('shared', name), 'is listed twice.');
    shared[name] = Object.freeze(await resolveOne(name, value, context));
  }
  return shared;
}
