/**
 * The host's own shared packages: found in the host's node_modules (walking up from `root`, as Node does), provided
 * to their share scope with the version their package.json states, and loaded with Node's own `require` from `root`.
 *
 * The host's code uses its copy directly (plain `require`/`import`), so a copy the host declares `singleton` or
 * `eager` counts as loaded from the start: it is the instance already in the process, and every singleton consumer
 * gets it (or a warning / error when it is outside their range). A key ending in `/` (`lodash/`) is provided on
 * demand, one deep import at a time, when a remote asks for it.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { SharedUnavailableError, SharedVersionError } from '../../common/errors.ts';
import * as semver from '../../common/semver.ts';
import type { ResolvedHostOptions } from '../options/host-options.ts';
import { provide, type SharedProvider, type ShareScope, setDeepLoader } from './share-scope.ts';

type HostShared = ResolvedHostOptions['shared'][string];

/** The package.json of an installed package, found by walking node_modules upward from `root`; undefined if absent. */
function installedManifest(pkg: string, root: string): { version?: unknown } | undefined {
  for (let dir = root; ; dir = dirname(dir)) {
    try {
      return JSON.parse(readFileSync(join(dir, 'node_modules', pkg, 'package.json'), 'utf8'));
    } catch {
      // not here: keep walking up
    }
    if (dirname(dir) === dir) return undefined;
  }
}

/** The version of an installed package, found by walking node_modules upward from `root`; undefined if absent. */
export function installedVersion(pkg: string, root: string): string | undefined {
  const version = installedManifest(pkg, root)?.version;
  return typeof version === 'string' ? version : undefined;
}

/** `lodash/fp` -> `lodash`; `@a/b/c` -> `@a/b`. */
export function packageOf(key: string): string {
  const parts = key.split('/');
  return key.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** The range the host's package.json declares for a package (MF's default `requiredVersion`). */
function declaredRange(pkg: string, root: string): string | undefined {
  try {
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    for (const field of ['dependencies', 'peerDependencies', 'devDependencies']) {
      const range = manifest?.[field]?.[pkg];
      if (typeof range === 'string' && semver.isValidRange(range)) return range;
    }
  } catch {
    // no package.json at root: no declared range
  }
  return undefined;
}

/** The host's entry in `shared` for a request (exact key, or a key ending in `/` that covers it), if any. */
export function hostEntryFor(
  options: ResolvedHostOptions,
  request: string,
): { key: string; shared: HostShared } | undefined {
  if (Object.hasOwn(options.shared, request)) return { key: request, shared: options.shared[request]! };
  const key = Object.keys(options.shared)
    .filter((k) => k.endsWith('/') && request.startsWith(k) && request.length > k.length)
    .sort((a, b) => b.length - a.length)[0];
  return key === undefined ? undefined : { key, shared: options.shared[key]! };
}

/** What the host provides for one request, or why it provides nothing. */
function provideOne(
  scopeOf: (name: string) => ShareScope,
  options: ResolvedHostOptions,
  request: string,
  shared: HostShared,
): string | undefined {
  if (shared.import === false) return undefined;
  const packageName = shared.packageName ?? packageOf(request);
  const version = shared.version ?? installedVersion(packageName, options.root);
  if (version === undefined) {
    return (
      `The host "${options.name}" declares "${request}" as shared, but ${packageName} is not installed under ` +
      `${options.root}; the host provides nothing for it. Install it, set \`root\` to the folder whose node_modules ` +
      'has it, or set `import: false` to only consume it.'
    );
  }
  const required = shared.requiredVersion ?? declaredRange(packageName, options.root);
  if (typeof required === 'string' && !semver.satisfies(version, required, { includePrerelease: true })) {
    const message =
      `The host "${options.name}" requires "${request}" ${required}, but its installed copy is ${version} ` +
      `(${packageName} under ${options.root}). Install a version in ${required}, or change the host's requiredVersion.`;
    if (shared.strictVersion) throw new SharedVersionError(message, { package: request });
    return message;
  }
  const nodeRequire = createRequire(join(options.root, 'noop.js'));
  // The host's copy is installed but may not load (a native addon without a build for this platform, a broken
  // install): that is the shared module being unavailable, whatever the package threw (kept as the cause).
  const hostRequire = (id: string) => {
    try {
      return nodeRequire(id);
    } catch (cause) {
      throw new SharedUnavailableError(
        `The host "${options.name}" provides "${request}" ${version} from ${options.root}, but require("${id}") ` +
          `failed there: ${(cause as Error)?.message ?? cause}. Reinstall or rebuild it in the host ` +
          `(npm rebuild ${packageName}, or npm install on the platform the host runs on).`,
        { package: request, cause },
      );
    }
  };
  const inUse = shared.singleton || shared.eager;
  const provider: SharedProvider = {
    from: options.name,
    eager: shared.eager,
    get: async () => () => hostRequire(request),
    ...(inUse ? { loaded: true } : {}),
  };
  const kept = provide(scopeOf(shared.shareScope ?? 'default'), request, version, provider, {
    scope: shared.shareScope ?? 'default',
    singleton: shared.singleton,
    requiredVersion: shared.requiredVersion ?? false,
    strictVersion: shared.strictVersion ?? false,
  });
  setDeepLoader(kept, (id) => hostRequire(id));
  // eager: loaded now, as MF loads eager shared modules up front.
  if (shared.eager && kept === provider) hostRequire(request);
  return undefined;
}

/**
 * Adds the host's installed shared packages to their scopes; returns warnings for packages that are not installed
 * or outside the host's own `requiredVersion` (an error with `strictVersion`). Keys ending in `/` are provided later,
 * per deep import, by {@link provideHostRequest}.
 */
export function provideHostPackages(scopeOf: (name: string) => ShareScope, options: ResolvedHostOptions): string[] {
  const warnings: string[] = [];
  for (const [key, shared] of Object.entries(options.shared)) {
    if (key.endsWith('/')) continue;
    const warning = provideOne(scopeOf, options, key, shared);
    if (warning !== undefined) warnings.push(warning);
  }
  return warnings;
}

/** Provides a deep import (`lodash/fp`) that a host key ending in `/` covers, before a remote's request is resolved. */
export function provideHostRequest(
  scopeOf: (name: string) => ShareScope,
  options: ResolvedHostOptions,
  request: string,
): string | undefined {
  const entry = hostEntryFor(options, request);
  if (entry === undefined || entry.key === request) return undefined;
  const scope = scopeOf(entry.shared.shareScope ?? 'default');
  if (Object.values(scope[request] ?? {}).some((p) => p.from === options.name)) return undefined;
  return provideOne(scopeOf, options, request, entry.shared);
}

/**
 * The warning for a singleton a remote declares that the host has installed but does not list in `shared`: the
 * remote then gets another copy (its fallback, or another remote's), a second instance beside the host's own.
 * Undefined when the host lists it, or has no copy of it.
 */
export function unsharedSingleton(options: ResolvedHostOptions, request: string, remote: string): string | undefined {
  if (hostEntryFor(options, request) !== undefined) return undefined;
  const packageName = packageOf(request);
  const version = installedVersion(packageName, options.root);
  if (version === undefined) return undefined;
  return (
    `Remote "${remote}" declares "${request}" a singleton, and the host "${options.name}" has ${packageName} ` +
    `${version} installed under ${options.root} but does not list it in \`shared\`: the remote gets another copy, a ` +
    `second instance of ${packageName} in the process. Add "${request}" to the host's \`shared\` ` +
    `(\`shared: { ${JSON.stringify(request)}: { singleton: true } }\`) so the remote uses the host's instance.`
  );
}
