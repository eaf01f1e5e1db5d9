/**
 * The checks every manifest passes before anything of its remote is fetched or compiled, fetched or cached alike, in
 * the one order that is safe: the signature over the raw bytes (when a key is pinned) before they are parsed, then
 * the remote's name, the expiry, and the release floor (rollback). The manifest's release and cache record are
 * written later, by its `commit()`, when its version becomes current: a refused candidate neither raises the rollback
 * floor nor becomes the copy a restarted host starts from.
 */
import { ChannelError, ManifestMismatchError } from '../../common/errors.ts';
import { integrityOf, type Manifest, parseManifest } from '../../manifest/index.ts';
import type { ResolvedRemote } from '../options/remote-options.ts';
import type { Warn } from '../warnings.ts';
import type { ChannelDecision } from './channel.ts';
import { checkNotExpired } from './expiry.ts';
import { type ReleaseStore, releaseKey } from './release-store.ts';
import { verifySignatureFile } from './signature-file.ts';

/** A manifest the host accepted. */
export interface TrustedManifest {
  manifest: Manifest;
  /** The pinned key that verified its signature, or undefined for an unsigned remote. */
  signedBy: string | undefined;
  /** `network`: the remote served it (or confirmed the cached copy with a 304); `cache`: served stale, remote down. */
  source: 'network' | 'cache';
  /** `sha384-…` of the manifest's exact bytes: equal integrities are the same build. */
  integrity: string;
  /** The bytes are the cached copy (confirmed by a 304, or served stale): its files are in the cache too. */
  fromCache: boolean;
  /** For a remote followed through a channel: what the channel decided for this host (absent when served stale). */
  channel?: ChannelDecision;
  /**
   * Makes this manifest the remote's accepted one, once its version is current: records its release (rollback
   * protection) and, when the remote served it, writes it as the remote's cache record (what the host starts from
   * when the remote is down). A candidate that is refused is never committed. A failed write is a warning.
   */
  commit(): Promise<void>;
}

/** A signature file that verifySignatureFile accepted over `bytes` with one of `keys`: `key`. */
export interface VerifiedSignature {
  bytes: Uint8Array;
  signature: Uint8Array | undefined;
  keys: readonly string[];
  key: string;
}

/** What the checks need of the host. */
export interface CheckContext {
  releases: ReleaseStore;
  now: () => number;
  warn: Warn;
}

/** Runs the checks on `bytes` (and `signature`) for `remote`; `writeCacheRecord` is what `commit()` writes besides the release. */
export function acceptManifest(
  remote: ResolvedRemote,
  context: CheckContext,
  bytes: Uint8Array,
  signature: Uint8Array | undefined,
  how: Pick<TrustedManifest, 'source' | 'fromCache' | 'channel'>,
  writeCacheRecord: () => unknown,
  verified?: VerifiedSignature,
): TrustedManifest {
  const details = { remote: remote.alias, url: remote.manifestUrl };
  let signedBy: string | undefined;
  if (remote.publicKeys.length > 0) {
    // Verified once: the caller that has just verified these very bytes with this very signature file says by which
    // key; anything else (other objects, other keys) is verified here.
    signedBy =
      verified !== undefined &&
      verified.bytes === bytes &&
      verified.signature === signature &&
      verified.keys === remote.publicKeys
        ? verified.key
        : verifySignatureFile(bytes, signature, remote.publicKeys, details);
  } else {
    context.warn(
      'FERRY_UNSIGNED_REMOTE',
      `Remote "${remote.alias}" (${remote.manifestUrl}) is loaded without a pinned public key: its files are ` +
        'checked against its manifest, but nothing proves who made the manifest. Pin `publicKey` in production ' +
        '(and set `requireSignatures: true` on the host).',
      remote.alias,
    );
  }
  const manifest = parseManifest(bytes, remote.manifestUrl);
  if (manifest.name !== remote.name) {
    throw new ManifestMismatchError(
      `The manifest at ${remote.manifestUrl} belongs to remote "${manifest.name}", but the host expects ` +
        `"${remote.name}" there. Fix the URL of remotes.${remote.alias}, or set its \`name\` if the key is an alias.`,
      details,
    );
  }
  checkNotExpired(manifest, context.now(), details);
  const key = releaseKey(manifest.name, remote.manifestUrl);
  const integrity = integrityOf(bytes);
  const { channel } = how;
  // Through a channel, the release is the one the newest accepted pointer names (its sequence is the floor: an
  // operator's rollback names an older release); otherwise it must not be older than one accepted before.
  if (channel && manifest.ferry.release !== channel.release) {
    throw new ChannelError(
      `Channel "${channel.document.channel}" of remote "${remote.alias}" names release ${channel.release} for this ` +
        `host, but ${channel.manifestUrl} is release ${manifest.ferry.release}; it was refused. Serve the output ` +
        'folder unchanged (releases/<release>.json is written by `ferry build`).',
      { ...details, reason: 'mismatch' },
    );
  }
  if (!remote.channel) context.releases.check(key, manifest.ferry.release, integrity, details);
  const commit = async () => {
    // Both are on disk before the version runs: a host restarted a moment later starts from this version. They are
    // independent files, written side by side: a crash between the two leaves at most a cache record newer than the
    // release floor, which a restarted host accepts (and then records).
    await Promise.all([
      remote.channel
        ? channel?.commit()
        : context.releases.accept(key, manifest.ferry.release, integrity, signedBy !== undefined),
      writeCacheRecord(),
    ]);
  };
  return { manifest, signedBy, integrity, commit, ...how };
}
