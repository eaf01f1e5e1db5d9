/**
 * Fetching a remote's manifest and deciding whether to trust it, in the one order that is safe: the signature is
 * checked over the raw bytes before they are parsed (when a key is pinned), then the manifest must name the expected
 * remote, must not have expired, and must not be older than what the host accepted before (rollback). Only then is
 * its release recorded and the manifest handed on; nothing of the remote is fetched or compiled before.
 */
import { ManifestMismatchError } from '../common/errors.ts';
import { integrityOf, type Manifest, parseManifest, SIGNATURE_FILE } from '../manifest/index.ts';
import { channels } from './channels.ts';
import { checkNotExpired } from './expiry.ts';
import type { ResolvedHostOptions, ResolvedRemote } from './options.ts';
import { type ReleaseStore, releaseKey } from './release-store.ts';
import { verifySignatureFile } from './signature-file.ts';
import { fetchBytes } from './transport.ts';

/** What the host lends to the manifest check. */
export interface TrustContext {
  host: ResolvedHostOptions;
  releases: ReleaseStore;
  warn(code: string, message: string, remote?: string): void;
}

/** A manifest the host accepted. */
export interface TrustedManifest {
  manifest: Manifest;
  /** The pinned key that verified its signature, or undefined for an unsigned remote. */
  signedBy: string | undefined;
}

/** The most a signature file may weigh: a few hundred bytes are written. */
const MAX_SIGNATURE_BYTES = 4096;

/**
 * Fetches, verifies and accepts the manifest of `remote`; throws a typed error naming the remote, the URL and the fix.
 *
 * @example
 * ```ts
 * const { manifest, signedBy } = await fetchTrustedManifest(remote, { host, releases, warn });
 * ```
 */
export async function fetchTrustedManifest(remote: ResolvedRemote, context: TrustContext): Promise<TrustedManifest> {
  const { host } = context;
  const common = { timeout: remote.timeout, remote: remote.alias, fetch: host.fetch, origins: host.origins };
  const details = { remote: remote.alias, url: remote.manifestUrl };
  const signed = remote.publicKeys.length > 0;
  const signatureUrl = new URL(SIGNATURE_FILE, remote.manifestUrl).href;
  const signature = signed
    ? fetchBytes(signatureUrl, {
        ...common,
        maxBytes: MAX_SIGNATURE_BYTES,
        what: 'manifest signature',
        allowNotFound: true,
      })
    : undefined;
  signature?.catch(() => {});
  const started = performance.now();
  const response = await fetchBytes(remote.manifestUrl, {
    ...common,
    maxBytes: host.maxManifestBytes,
    what: 'manifest',
  });
  channels.fetch.publish({
    host: host.name,
    remote: remote.alias,
    url: response.url,
    status: response.status,
    bytes: response.bytes.byteLength,
    durationMs: performance.now() - started,
  });
  let signedBy: string | undefined;
  if (signature) {
    const sig = await signature;
    signedBy = verifySignatureFile(
      response.bytes,
      sig.status === 404 ? undefined : sig.bytes,
      remote.publicKeys,
      details,
    );
  } else {
    context.warn(
      'FERRY_UNSIGNED_REMOTE',
      `Remote "${remote.alias}" (${remote.manifestUrl}) is loaded without a pinned public key: its files are ` +
        'checked against its manifest, but nothing proves who made the manifest. Pin `publicKey` in production ' +
        '(and set `requireSignatures: true` on the host).',
      remote.alias,
    );
  }
  const manifest = parseManifest(response.bytes, remote.manifestUrl);
  if (manifest.name !== remote.name) {
    throw new ManifestMismatchError(
      `The manifest at ${remote.manifestUrl} belongs to remote "${manifest.name}", but the host expects ` +
        `"${remote.name}" there. Fix the URL of remotes.${remote.alias}, or set its \`name\` if the key is an alias.`,
      details,
    );
  }
  checkNotExpired(manifest, host.now(), details);
  const key = releaseKey(manifest.name, remote.manifestUrl);
  const integrity = integrityOf(response.bytes);
  context.releases.check(key, manifest.ferry.release, integrity, details);
  await context.releases.accept(key, manifest.ferry.release, integrity, signedBy !== undefined);
  return { manifest, signedBy };
}
