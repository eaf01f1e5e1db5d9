/**
 * Whether a verified manifest may become a remote's current version in this host: its version must be inside the
 * range the host accepts for the remote (`versionRange`), and, for a version replacing another in a running host,
 * the shared singletons it requires must include the instances already in use (a running host cannot swap one), and
 * a release the remote marked breaking (in an expose the host uses) must be inside that range too.
 */
import { IncompatibleVersionError, UpdateRefusedError } from '../../common/errors.ts';
import * as semver from '../../common/semver.ts';
import type { Manifest } from '../../manifest/index.ts';
import type { ResolvedRemote } from '../options/remote-options.ts';
import type { ShareScope } from '../sharing/share-scope.ts';

/** Throws {@link IncompatibleVersionError} when `manifest` is outside the range the host declares for the remote. */
export function checkVersionRange(remote: ResolvedRemote, manifest: Manifest): void {
  const range = remote.versionRange;
  if (range === undefined || semver.satisfies(manifest.ferry.version, range, { includePrerelease: true })) return;
  throw new IncompatibleVersionError(
    `Remote "${remote.alias}" (${remote.manifestUrl}) serves version ${manifest.ferry.version}, outside the range ` +
      `${range} this host accepts (remotes.${remote.alias}.versionRange); it was not loaded. Deploy a version in ` +
      `${range}, or widen the range once the host is ready for it.`,
    { remote: remote.alias, url: remote.manifestUrl, option: `remotes.${remote.alias}.versionRange` },
  );
}

/**
 * Throws {@link UpdateRefusedError} when the candidate requires a shared singleton outside its range while another
 * version is already the instance in use.
 */
export function checkSharedSingletons(
  remote: ResolvedRemote,
  manifest: Manifest,
  scopeOf: (name: string) => ShareScope,
): void {
  for (const [pkg, entry] of Object.entries(manifest.ferry.shared)) {
    if (!entry.singleton || typeof entry.requiredVersion !== 'string') continue;
    const providers = scopeOf(entry.shareScope)[pkg] ?? {};
    const inUse = Object.entries(providers).find(([, provider]) => provider.loaded)?.[0];
    if (inUse === undefined || semver.satisfies(inUse, entry.requiredVersion, { includePrerelease: true })) continue;
    throw new UpdateRefusedError(
      `Version ${manifest.ferry.version} of remote "${remote.alias}" requires the shared singleton "${pkg}" ` +
        `${entry.requiredVersion}, but ${inUse} is the instance in use in this host; a running host cannot swap a ` +
        `singleton, so the new version was refused and the current one keeps serving. Restart the host with a ` +
        `compatible ${pkg}, or rebuild the remote with a range that includes ${inUse}.`,
      { remote: remote.alias, url: remote.manifestUrl, package: pkg, reason: 'shared-conflict' },
    );
  }
}

/**
 * Throws {@link UpdateRefusedError} (`reason: 'contract'`) when the candidate may break the host's code: the remote's
 * build marked it as breaking exports of an expose the host uses (`uses`, default all) and the host's `versionRange`
 * does not include its version; or the host has no range and it is a new major version relative to `current`, the
 * version the host runs (a host on 1.x that missed 2.0.0, the breaking build, must not jump to 2.0.1). A breaking
 * change is taken live only by a host that said it accepts that version. Returns quietly otherwise.
 */
export function checkContract(remote: ResolvedRemote, manifest: Manifest, current: string): void {
  const { version, contract } = manifest.ferry;
  const breaking = (contract?.breaking ?? []).filter(
    (change) => remote.uses === undefined || remote.uses.includes(change.expose),
  );
  const options = { includePrerelease: true };
  // Another major line (1.x -> 2.x; 0.3.x -> 0.4.x, as caret ranges count it), up or down; a patch or minor release
  // either way within a line is not one (a channel going back to 1.0.1 from 1.0.2 is not a new major).
  const line = (text: string) => {
    const [major, minor] = (semver.valid(text) ?? '').split('.');
    return major === '0' ? `0.${minor}` : major;
  };
  const newMajor = semver.valid(current) !== null && semver.valid(version) !== null && line(version) !== line(current);
  const range = remote.versionRange;
  if (breaking.length > 0) {
    if (range !== undefined && semver.satisfies(version, range, options)) return;
  } else if (range !== undefined || !newMajor || contract?.baseline === current) {
    // With a range, the range check decides about a new major; without one, a major whose build was compared with
    // exactly the version this host runs and found nothing breaking is safe.
    return;
  }
  const names = breaking.map((change) => (change.export === '*' ? change.expose : `${change.expose}#${change.export}`));
  const what =
    breaking.length > 0
      ? `breaks the API of ${contract!.baseline}: ${breaking.map((change) => `${change.expose} ${change.export === '*' ? '' : `${change.export} `}(${change.change})`).join('; ')}` +
        `${contract!.override === undefined ? '' : ` (released without a new major version: ${contract!.override})`}`
      : `is a new major version since ${current}, the version this host runs, so its API may have broken since then`;
  throw new UpdateRefusedError(
    `Version ${version} of remote "${remote.alias}" (${remote.manifestUrl}) ${what}. It was refused as a live ` +
      'update and the current version keeps serving. Check the host against it (`ferry check`), then ' +
      `${range === undefined ? 'set' : 'widen'} remotes.${remote.alias}.versionRange to include ${version}` +
      `${breaking.length > 0 ? `, or list the exposes the host uses in remotes.${remote.alias}.uses` : ''}.`,
    { remote: remote.alias, url: remote.manifestUrl, reason: 'contract', breaking: names },
  );
}
