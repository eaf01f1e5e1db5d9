/**
 * A Module Federation `mf-manifest.json` (webpack or rspack with `manifest: true`), read with hand-written guards:
 * the container file, each expose's chunks (`assets.js.sync` and `async`), and each shared package's version, range
 * and fallback chunks. A manifest with anything executable is refused: MF runs `metaData.getPublicPath` as code
 * (`new Function`); ferry never runs code from a manifest. Files are resolved next to the manifest, so only
 * `publicPath: 'auto'` (or a relative one) is taken; chunks on another server are refused with the setting that works.
 */
import { InvalidManifestError, UnsupportedContainerError } from '../../common/errors.ts';
import { isSafeLockedName } from './lock-file.ts';

/** What a host reads of a Module Federation manifest. */
export interface MfManifest {
  name: string;
  /** `metaData.buildInfo.buildVersion` (the remote's package.json version), when it is there. */
  buildVersion: string | undefined;
  /** The container file, relative to the manifest's folder. */
  entry: string;
  /** `metaData.remoteEntry.type` (`commonjs-module`, `global`, …). */
  entryType: string;
  /** Per expose key (`./tokenValidator`): its chunks, sync first. */
  exposes: Record<string, string[]>;
  /** Per shared package: the version the remote was built with, its range, singleton, and its fallback chunks. */
  shared: Record<string, { version: string; requiredVersion: string; singleton: boolean; files: string[] }>;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Parses the bytes of an MF manifest fetched from `url`. */
export function parseMfManifest(bytes: Uint8Array, url: string, alias: string): MfManifest {
  const fail = (what: string): never => {
    throw new InvalidManifestError(
      `The Module Federation manifest of remote "${alias}" (${url}) ${what}. Check that the URL points at the ` +
        "mf-manifest.json of a webpack or rspack build with Module Federation's `manifest: true`.",
      { remote: alias, url },
    );
  };
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    return fail(`is not UTF-8 JSON (${(error as Error).message})`);
  }
  if (!isObject(raw)) return fail('is not an object');
  if (isObject(raw['ferry']))
    return fail("is a ferry manifest: configure the remote without type: 'module-federation'");
  const metaData = raw['metaData'];
  if (!isObject(metaData)) return fail('has no metaData');
  // MF compiles getPublicPath with new Function and runs it in the host: a manifest is data, never code.
  if (Object.hasOwn(metaData, 'getPublicPath')) {
    fail(
      'has metaData.getPublicPath, a string of code that Module Federation would run in the host; ferry never runs ' +
        "code from a manifest, so it was refused. Build the remote with output.publicPath: 'auto' and no getPublicPath",
    );
  }
  const publicPath = metaData['publicPath'];
  if (publicPath !== undefined && publicPath !== 'auto' && publicPath !== '' && publicPath !== './') {
    throw new UnsupportedContainerError(
      `The Module Federation manifest of remote "${alias}" (${url}) sets publicPath ${JSON.stringify(publicPath)}: ` +
        "ferry fetches a remote's files next to its manifest, through its own client. Build the remote with " +
        "output.publicPath: 'auto' and serve the whole output folder at one URL.",
      { remote: alias, url },
    );
  }
  const name = raw['name'];
  if (typeof name !== 'string' || name === '') return fail('has no name');
  // A remote's own remotes are loaded by its container's runtime (loadScriptNode: fetched and run by MF itself).
  const remotes = raw['remotes'];
  if (Array.isArray(remotes) && remotes.length > 0) {
    throw new UnsupportedContainerError(
      `The Module Federation remote "${alias}" (${url}) uses remotes of its own (${remotes.length} in its manifest): ` +
        "its container would fetch and run them itself, outside ferry's fetching and verification. Configure each of " +
        "them on the host (type: 'module-federation', pinned by `ferry lock`) and build this remote without `remotes`.",
      { remote: alias, url },
    );
  }
  const remoteEntry = metaData['remoteEntry'];
  if (!isObject(remoteEntry) || typeof remoteEntry['name'] !== 'string') return fail('has no metaData.remoteEntry');
  const entryType = typeof remoteEntry['type'] === 'string' ? remoteEntry['type'] : 'unknown';
  // ferry compiles a CommonJS container; a browser global (`var`, `global`, `window`) or an ES module one is refused.
  if (!/^commonjs(?:-module|-static|2)?$/.test(entryType)) {
    throw new UnsupportedContainerError(
      `The Module Federation remote "${alias}" (${url}) is a container of library type "${entryType}", which ferry ` +
        "cannot run in Node. Build it with library: { type: 'commonjs-module' } (target: 'node' or 'async-node').",
      { remote: alias, url },
    );
  }
  const entryPath = typeof remoteEntry['path'] === 'string' ? remoteEntry['path'] : '';
  const entry = `${entryPath.replace(/^\.?\/+/, '').replace(/\/?$/, entryPath === '' ? '' : '/')}${remoteEntry['name']}`;
  const file = (value: unknown, where: string) => {
    if (typeof value !== 'string' || !isSafeLockedName(value))
      fail(`names the unsafe file ${JSON.stringify(value)} in ${where}`);
    return value as string;
  };
  file(entry, 'metaData.remoteEntry');
  const jsOf = (assets: unknown, where: string): string[] => {
    if (assets === undefined) return [];
    const js = isObject(assets) ? assets['js'] : undefined;
    if (!isObject(js)) return fail(`has no ${where}.assets.js`);
    const list = [...((js['sync'] as unknown[]) ?? []), ...((js['async'] as unknown[]) ?? [])];
    return [...new Set(list.map((value) => file(value, `${where}.assets.js`)))];
  };
  const exposes: MfManifest['exposes'] = {};
  if (!Array.isArray(raw['exposes'])) return fail('has no exposes list');
  for (const [index, expose] of (raw['exposes'] as unknown[]).entries()) {
    if (!isObject(expose) || typeof expose['path'] !== 'string') return fail(`has a malformed exposes[${index}]`);
    const key = expose['path'];
    if (key !== '.' && !key.startsWith('./')) fail(`has the expose path ${JSON.stringify(key)}`);
    exposes[key] = jsOf(expose['assets'], `exposes[${index}]`);
  }
  const shared: MfManifest['shared'] = {};
  for (const [index, entryValue] of ((raw['shared'] as unknown[] | undefined) ?? []).entries()) {
    if (!isObject(entryValue) || typeof entryValue['name'] !== 'string')
      return fail(`has a malformed shared[${index}]`);
    const version = typeof entryValue['version'] === 'string' ? entryValue['version'] : '';
    const range = entryValue['requiredVersion'];
    shared[entryValue['name']] = {
      version,
      requiredVersion: typeof range === 'string' && range !== '' ? range : '*',
      singleton: entryValue['singleton'] === true,
      files: jsOf(entryValue['assets'], `shared[${index}]`),
    };
  }
  const buildInfo = metaData['buildInfo'];
  const buildVersion =
    isObject(buildInfo) && typeof buildInfo['buildVersion'] === 'string' ? buildInfo['buildVersion'] : undefined;
  return {
    name,
    buildVersion,
    entry,
    entryType,
    exposes,
    shared,
  };
}
