/**
 * The host's `shared` option: the packages it provides to remotes (and consumes), with Module Federation's option
 * names. Note that `version` here is the exact version the host provides; a remote's accepted range is its
 * `versionRange`.
 */
import { isPlainObject } from '../../common/options.ts';
import { invalid, section } from './checks.ts';

/** A shared package the host provides and consumes (Module Federation option names). */
export interface HostSharedOptions {
  singleton?: boolean;
  requiredVersion?: string | false;
  strictVersion?: boolean;
  eager?: boolean;
  /** The exact version the host provides; read from the installed package when omitted. */
  version?: string;
  /** `false`: provide nothing, only consume what remotes provide. */
  import?: false;
  /** The share scope the host provides it in. Default `'default'`. */
  shareScope?: string;
  /** The installed package that gives `version` (and the `requiredVersion` default), if not the key's package. */
  packageName?: string;
}

export type ResolvedShared = Readonly<
  HostSharedOptions & { singleton: boolean; strictVersion: boolean; eager: boolean }
>;

const SHARED_KEYS = [
  'singleton',
  'requiredVersion',
  'strictVersion',
  'eager',
  'version',
  'import',
  'shareScope',
  'packageName',
];
const PACKAGE = /^(@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*(\/[a-z0-9@~_.-]+)*\/?$/;

/** Validates `shared` (an object of package names to options, or a list of names) and freezes it. */
export function resolveShared(raw: unknown): Readonly<Record<string, ResolvedShared>> {
  const out: Record<string, ResolvedShared> = Object.create(null);
  if (raw === undefined) return Object.freeze(out);
  const entries: Array<[string, unknown]> = Array.isArray(raw)
    ? raw.map((pkg) => [pkg, {}])
    : isPlainObject(raw)
      ? Object.entries(raw)
      : invalid('shared', 'must be an object of package names to options, or a list of package names.');
  for (const [pkg, value] of entries) {
    const where = `shared.${pkg}`;
    if (typeof pkg !== 'string' || !PACKAGE.test(pkg)) {
      invalid(
        'shared',
        `has ${JSON.stringify(pkg)}, which is not an npm package name, a deep import ("lodash/fp") or a prefix ending in "/" ("lodash/").`,
      );
    }
    if (!isPlainObject(value)) invalid(where, 'must be an object of options.');
    const options = section(value, where, { known: SHARED_KEYS }) as HostSharedOptions;
    for (const flag of ['singleton', 'strictVersion', 'eager'] as const) {
      if (options[flag] !== undefined && typeof options[flag] !== 'boolean')
        invalid(`${where}.${flag}`, 'must be true or false.');
    }
    if (options.import !== undefined && options.import !== false) invalid(`${where}.import`, 'can only be false.');
    for (const text of ['shareScope', 'packageName', 'version'] as const) {
      if (options[text] !== undefined && (typeof options[text] !== 'string' || options[text] === '')) {
        invalid(`${where}.${text}`, 'must be a non-empty string.');
      }
    }
    if (
      options.requiredVersion !== undefined &&
      options.requiredVersion !== false &&
      typeof options.requiredVersion !== 'string'
    ) {
      invalid(`${where}.requiredVersion`, 'must be a semver range such as "^9.0.0", or false.');
    }
    out[pkg] = Object.freeze({
      ...options,
      singleton: options.singleton ?? false,
      strictVersion: options.strictVersion ?? false,
      eager: options.eager ?? false,
    });
  }
  return Object.freeze(out);
}
