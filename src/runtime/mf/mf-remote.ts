/**
 * The manifest stage for a Module Federation remote (`type: 'module-federation'`): webpack and rspack builds carry no
 * hashes and no signature, so the host's lock file (lock-file.ts, written by `ferry lock`) is what it trusts. The
 * remote's `mf-manifest.json` (or, given a `remoteEntry.js` URL, the container itself) is fetched through ferry's
 * client and must be byte for byte what the lock pins; every file an expose needs must be in the lock too. The
 * result is a ferry manifest made from the lock — each file with its locked size and integrity — so the rest of the
 * pipeline (files, cache, shared modules, evaluation, live updates) treats the remote like any other and checks every
 * chunk against the lock when it fetches it. An `unpinned` remote is made from what it serves, with a warning.
 *
 * The lock is read again at each load and check, so a re-deployed remote whose new files match an updated lock goes
 * live without a restart, and one that does not is refused while the old version keeps serving.
 */
import { LockError } from '../../common/errors.ts';
import * as semver from '../../common/semver.ts';
import { FORMAT_VERSION, integrityOf, type Manifest, type SharedEntry } from '../../manifest/index.ts';
import { isUnavailable } from '../net/failures.ts';
import type { ResolvedRemote } from '../options/remote-options.ts';
import type { RemoteRecord } from '../remotes.ts';
import type { TrustedManifest } from '../trust/manifest-checks.ts';
import type { TrustContext } from '../trust/trusted-manifest.ts';
import { requiredPackages } from './container-files.ts';
import { type LockedFile, type LockedRemote, readLock } from './lock-file.ts';
import { type MfManifest, parseMfManifest } from './mf-manifest.ts';

/** The largest file of an unpinned remote ferry fetches (a locked one is capped at its locked size). */
const MAX_UNPINNED_FILE = 32 << 20;

/** True when the remote's URL is its container (`remoteEntry.js`) rather than its `mf-manifest.json`. */
export function isContainerUrl(url: string): boolean {
  return new URL(url).pathname.endsWith('.js');
}

/** The file name of the URL's last path segment (`remoteEntry.js`). */
export function fileNameOf(url: string): string {
  const path = new URL(url).pathname;
  return decodeURIComponent(path.slice(path.lastIndexOf('/') + 1));
}

/**
 * Fetches, checks against the lock and accepts an MF remote's manifest (or container). `staleIfError: false` (a
 * live-update check) never answers with the locked copy from the cache: a remote it could not ask fails the check.
 */
export async function fetchMfRemote(
  record: RemoteRecord,
  context: TrustContext,
  remote: ResolvedRemote,
  staleIfError = true,
): Promise<TrustedManifest> {
  try {
    return await acceptMfRemote(record, context, remote, staleIfError);
  } catch (error) {
    // A running remote whose new build is not in the lock: refused (the live update reports it too), and said loudly,
    // once per message, because the team must review the build and re-lock it.
    if (record.current && error instanceof LockError && error.reason !== 'malformed') {
      context.warn(
        'FERRY_LOCK_REFUSED',
        `${error.message} The running build of remote "${remote.alias}" (version ${record.current.version}) keeps serving.`,
        remote.alias,
      );
    }
    throw error;
  }
}

async function acceptMfRemote(
  record: RemoteRecord,
  context: TrustContext,
  remote: ResolvedRemote,
  staleIfError: boolean,
): Promise<TrustedManifest> {
  const lock = await readLock(remote.lockFile);
  const locked = Object.hasOwn(lock.remotes, remote.manifestUrl) ? lock.remotes[remote.manifestUrl] : undefined;
  const details = { remote: remote.alias, url: remote.manifestUrl };
  if (!locked && !remote.unpinned) {
    throw new LockError(
      `Remote "${remote.alias}" (${remote.manifestUrl}) is a Module Federation remote and has no entry in ` +
        `${remote.lockFile}, so none of its code may run. Review the remote, then run \`ferry lock\` in the host's ` +
        'project and commit the lock (or, for development only, set `unpinned: true` on the remote).',
      { ...details, file: remote.lockFile, reason: 'not-locked' },
    );
  }
  const containerUrl = isContainerUrl(remote.manifestUrl);
  if (!locked && containerUrl) {
    throw new LockError(
      `Remote "${remote.alias}" (${remote.manifestUrl}) is unpinned and given by its container URL: without a lock ` +
        'entry or an mf-manifest.json, ferry cannot know which chunks its exposes need. Point the remote at its ' +
        "mf-manifest.json (build with Module Federation's `manifest: true`), or run `ferry lock`.",
      { ...details, reason: 'not-locked' },
    );
  }
  const first = fileNameOf(remote.manifestUrl);
  const { bytes, fromCache } = await fetchFirst(record, context, remote, first, locked?.files[first], staleIfError);
  if (locked) {
    checkLocked(remote, first, bytes, locked.files[first]);
    if (locked.name !== remote.name) {
      throw new LockError(
        `${remote.lockFile} locks ${remote.manifestUrl} as remote "${locked.name}", but the host expects ` +
          `"${remote.name}" there. Run \`ferry lock\` again, or fix the remote's URL or name.`,
        { ...details, file: remote.lockFile, reason: 'mismatch' },
      );
    }
  }
  await context.cache.store(integrityOf(bytes), bytes).catch(() => {});
  const mf = containerUrl ? undefined : parseMfManifest(bytes, remote.manifestUrl, remote.alias);
  if (mf && mf.name !== remote.name) {
    throw new LockError(
      `The Module Federation manifest at ${remote.manifestUrl} belongs to remote "${mf.name}", but the host expects ` +
        `"${remote.name}". Fix the URL of remotes.${remote.alias}, or set its \`name\`.`,
      { ...details, reason: 'mismatch' },
    );
  }
  const plan = locked ? lockedPlan(remote, locked, mf) : await unpinnedPlan(record, context, remote, first, bytes, mf!);
  const manifest = ferryManifestOf(remote, plan, mf);
  const integrity = integrityOf(
    Buffer.from(JSON.stringify({ url: remote.manifestUrl, files: plan.files, exposes: plan.exposes })),
  );
  if (!locked) {
    context.warn(
      'FERRY_UNPINNED_REMOTE',
      `Remote "${remote.alias}" (${remote.manifestUrl}) is a Module Federation remote loaded UNPINNED ` +
        `(build ${integrity.slice(7, 19)}): its bytes are not checked against any lock, so whoever can change what ` +
        'that URL serves runs code in this process. Review it, run `ferry lock` and remove `unpinned: true`.',
      remote.alias,
    );
  }
  return {
    manifest,
    signedBy: undefined,
    source: fromCache ? 'cache' : 'network',
    integrity,
    // Locked files are content-addressed in the cache: any copy there is exactly the locked bytes.
    fromCache: true,
    commit: async () => {},
  };
}

/** The manifest or container, from the remote; when it is unavailable, the locked copy from the cache. */
async function fetchFirst(
  record: RemoteRecord,
  context: TrustContext,
  remote: ResolvedRemote,
  name: string,
  locked: LockedFile | undefined,
  staleIfError: boolean,
): Promise<{ bytes: Uint8Array; fromCache: boolean }> {
  // The lock names the exact bytes, so a cached copy of them is as good as the remote's (stale-if-error); with one,
  // the import does not wait out the retries of a remote that is down.
  const cached =
    locked && staleIfError && remote.cache.staleIfError
      ? await context.cache.read(locked.integrity, locked.size)
      : undefined;
  try {
    const container = isContainerUrl(remote.manifestUrl);
    const response = await context.client({
      state: record,
      remote,
      url: remote.manifestUrl,
      maxBytes: locked ? locked.size : container ? MAX_UNPINNED_FILE : context.maxManifestBytes,
      what: container ? `container ${name}` : 'manifest',
      // A live-update check (staleIfError false) asks once too: it is asked again later. (A ferry remote's check asks
      // once when its `cache.staleIfError` is on: trust/trusted-manifest.ts.)
      once: cached !== undefined || !staleIfError,
    });
    return { bytes: response.bytes, fromCache: false };
  } catch (error) {
    if (!cached || !isUnavailable(error)) throw error;
    context.warn(
      'FERRY_STALE_CACHE',
      `Remote "${remote.alias}" (${remote.manifestUrl}) is unavailable (${(error as Error).message}); the copy of ` +
        `${name} pinned in ${remote.lockFile} is served from the cache.`,
      remote.alias,
    );
    return { bytes: cached, fromCache: true };
  }
}

function checkLocked(remote: ResolvedRemote, name: string, bytes: Uint8Array, locked: LockedFile | undefined): void {
  const served = integrityOf(bytes);
  if (locked && locked.integrity === served && locked.size === bytes.byteLength) return;
  throw new LockError(
    `${name} of remote "${remote.alias}" (${remote.manifestUrl}) is not the one pinned in ${remote.lockFile} ` +
      `(locked ${locked?.integrity ?? 'nothing'}, served ${served}); nothing of it ran. If this is a build you ` +
      'reviewed, run `ferry lock` and commit the lock; otherwise find out who changed the remote.',
    { remote: remote.alias, url: remote.manifestUrl, file: name, reason: 'mismatch' },
  );
}

/** A locked remote: every file its manifest names must be in the lock. */
function lockedPlan(remote: ResolvedRemote, locked: LockedRemote, mf: MfManifest | undefined): LockedRemote {
  if (!mf) return locked;
  const needed = [mf.entry, ...Object.values(mf.exposes).flat(), ...Object.values(mf.shared).flatMap((s) => s.files)];
  for (const name of needed) {
    if (!Object.hasOwn(locked.files, name)) {
      throw new LockError(
        `The mf-manifest.json of remote "${remote.alias}" (${remote.manifestUrl}) names ${name}, which is not in ` +
          `${remote.lockFile}. Run \`ferry lock\` again after reviewing the remote.`,
        { remote: remote.alias, url: remote.manifestUrl, file: name, reason: 'not-in-lock' },
      );
    }
  }
  return { ...locked, entry: mf.entry, exposes: exposesOf(mf) };
}

/** Per expose: its chunks, then the fallback chunks of the remote's shared packages (fetched before it runs). */
export function exposesOf(mf: MfManifest): Record<string, string[]> {
  const sharedFiles = Object.values(mf.shared).flatMap((shared) => shared.files);
  return Object.fromEntries(
    Object.entries(mf.exposes).map(([key, files]) => [key, [...new Set([...files, ...sharedFiles])]]),
  );
}

/** An unpinned remote: what its manifest lists, fetched now (through the client), hashed as served. */
async function unpinnedPlan(
  record: RemoteRecord,
  context: TrustContext,
  remote: ResolvedRemote,
  first: string,
  firstBytes: Uint8Array,
  mf: MfManifest,
): Promise<LockedRemote> {
  const exposes = exposesOf(mf);
  const names = [...new Set([mf.entry, ...Object.values(exposes).flat()])];
  const files: Record<string, LockedFile> = {
    [first]: { size: firstBytes.byteLength, integrity: integrityOf(firstBytes) },
  };
  const texts: string[] = [];
  await Promise.all(
    names.map(async (name) => {
      const { bytes } = await context.client({
        state: record,
        remote,
        url: new URL(name, remote.manifestUrl).href,
        maxBytes: MAX_UNPINNED_FILE,
        what: `file ${name}`,
      });
      const integrity = integrityOf(bytes);
      files[name] = { size: bytes.byteLength, integrity };
      texts.push(Buffer.from(bytes).toString('utf8'));
      await context.cache.store(integrity, bytes).catch(() => {});
    }),
  );
  return { name: mf.name, entry: mf.entry, manifest: first, exposes, files, packages: requiredPackages(texts) };
}

/** The ferry manifest the rest of the pipeline reads, made from the lock (or an unpinned remote's own files). */
function ferryManifestOf(remote: ResolvedRemote, plan: LockedRemote, mf: MfManifest | undefined): Manifest {
  const version = mf?.buildVersion !== undefined && semver.valid(mf.buildVersion) ? mf.buildVersion : '0.0.0';
  const shared: Record<string, SharedEntry> = {};
  for (const pkg of plan.packages) {
    const declared = mf?.shared[pkg];
    shared[pkg] = {
      version: declared?.version && semver.valid(declared.version) ? declared.version : '0.0.0',
      requiredVersion: declared?.requiredVersion ?? '*',
      singleton: declared?.singleton ?? false,
      strictVersion: false,
      eager: false,
      shareScope: 'default',
      // The container requires it from its host: ferry gives it from the share scope, never a copy of its own.
      fallback: false,
    };
  }
  const files = Object.fromEntries(Object.entries(plan.files).map(([name, file]) => [name, { ...file }]));
  const exposes = Object.fromEntries(
    Object.entries(plan.exposes).map(([key, chunks]) => [
      key,
      { file: plan.entry, chunks: chunks.filter((name) => name !== plan.entry), shared: [...plan.packages] },
    ]),
  );
  const far = new Date(Date.UTC(9999, 0, 1)).toISOString();
  return {
    id: remote.name,
    name: remote.name,
    metaData: {
      name: remote.name,
      type: 'app',
      buildInfo: { buildVersion: version, buildName: remote.name },
      remoteEntry: { name: plan.entry, path: '', type: 'commonjs-module' },
      types: { path: '', name: '', zip: '', api: '' },
      globalName: remote.name,
      pluginVersion: '',
      publicPath: 'auto',
    },
    shared: [],
    remotes: [],
    exposes: [],
    ferry: {
      formatVersion: FORMAT_VERSION,
      version,
      release: 0,
      builtAt: new Date(0).toISOString(),
      expires: far,
      remoteEntry: plan.entry,
      files,
      exposes,
      shared,
    },
  };
}
