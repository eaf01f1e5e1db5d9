/**
 * Fetching a remote's manifest and deciding whether to trust it, in the one order that is safe: the signature is
 * checked over the raw bytes before they are parsed (when a key is pinned), then the manifest must name the expected
 * remote, must not have expired, and must not be older than what the host accepted before (rollback). Only then is
 * the manifest handed on; nothing of the remote is fetched or compiled before. Its release and its cache record are
 * written when its version becomes current (`commit()`), not before: a refused candidate neither raises the rollback
 * floor nor becomes the copy a restarted host starts from.
 *
 * The accepted bytes (and signature) are kept in the host's disk cache with their ETag: the next load asks the remote
 * with If-None-Match, and when the remote is unavailable the cached copy is accepted through the same checks
 * (stale-if-error) while the host keeps trying the remote in the background.
 */
import { CircuitOpenError, type FerryError, ManifestMismatchError, SignatureError } from '../common/errors.ts';
import { integrityOf, type Manifest, parseManifest, SIGNATURE_FILE, signatureFileFor } from '../manifest/index.ts';
import { availabilityOf, type HostAvailability } from './availability.ts';
import { channels } from './channels.ts';
import { checkNotExpired } from './expiry.ts';
import type { ManifestRecord } from './file-cache.ts';
import type { ResolvedHostOptions, ResolvedRemote } from './options.ts';
import { type ReleaseStore, releaseKey } from './release-store.ts';
import { isUnavailable } from './retry.ts';
import { verifySignatureFile } from './signature-file.ts';

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
  /** `network`: the remote served it (or confirmed the cached copy with a 304); `cache`: served stale, remote down. */
  source: 'network' | 'cache';
  /** `sha384-…` of the manifest's exact bytes: equal integrities are the same build (compare versions with it). */
  integrity: string;
  /** The remote answered a conditional request with 304: the manifest is the cached one, unchanged. */
  notModified: boolean;
  /**
   * Makes this manifest the remote's accepted one, once its version is current: records its release (rollback
   * protection) and, when the remote served it, writes it as the remote's cache record (what the host starts from
   * when the remote is down). A candidate that is refused is never committed. A failed write is a warning.
   */
  commit(): Promise<void>;
}

/** The most a signature file may weigh: a few hundred bytes are written. */
const MAX_SIGNATURE_BYTES = 4096;

/** The manifest bytes (and signature) the host has cached for a remote, read back and re-hashed. */
interface CachedCopy {
  record: ManifestRecord;
  bytes: Uint8Array;
  signature: Uint8Array | undefined;
}

/**
 * Fetches, verifies and accepts the manifest of `remote`; throws a typed error naming the remote, the URL and the fix.
 * With a cached copy the request is conditional (a 304 costs no bytes and the cached bytes are checked again), and
 * when the remote is unavailable the cached copy is accepted instead (stale-if-error), through the same checks.
 *
 * @example
 * ```ts
 * const { manifest, signedBy, source } = await fetchTrustedManifest(remote, { host, releases, warn });
 * ```
 */
export async function fetchTrustedManifest(remote: ResolvedRemote, context: TrustContext): Promise<TrustedManifest> {
  const availability = availabilityOf(context.host);
  const cached = await readCachedCopy(availability, remote);
  try {
    const trusted = await fetchFromRemote(remote, context, availability, cached);
    availability.backOnline(remote, { version: trusted.manifest.ferry.version, integrity: trusted.integrity });
    return trusted;
  } catch (error) {
    const unavailable = isUnavailable(error) || error instanceof CircuitOpenError;
    if (!cached || !remote.availability.staleIfError || !unavailable) throw error;
    let trusted: TrustedManifest;
    try {
      // Served stale: its record stays as it is (its age is when the remote last served it).
      trusted = await accept(remote, context, cached.bytes, cached.signature, 'cache', () => {});
      availability.markCached(trusted.manifest);
    } catch {
      // The cached copy no longer passes (expired, rolled back, key rotated): the remote's error is the answer.
      throw error;
    }
    availability.servedStale(
      remote,
      { version: trusted.manifest.ferry.version, integrity: trusted.integrity },
      cached.record.fetchedAt,
      error as FerryError,
      () => refresh(remote, context, availability, trusted.integrity),
    );
    return trusted;
  }
}

/**
 * The background refresh of a remote served from the cache (`served`: the integrity of that copy): one conditional
 * request. Its outcome is published by `backOnline()` when the remote answers (or by a live-update check that got
 * there first); a new manifest is handed to live updates' verify-then-swap through the `changed` listeners.
 */
async function refresh(
  remote: ResolvedRemote,
  context: TrustContext,
  availability: HostAvailability,
  served: string,
): Promise<void> {
  const trusted = await fetchTrustedManifest(remote, context);
  if (trusted.source === 'cache') return;
  // Compared with the copy that was served stale (the push channel may have swapped a new version in meanwhile).
  const changed = trusted.integrity !== served;
  // Unchanged: the copy in use is confirmed (its record gets the new time and ETag). Changed: the new manifest goes
  // through live updates' verify-then-swap, which commits it if it becomes current.
  if (!changed) await trusted.commit();
  else availability.changed(remote);
}

async function readCachedCopy(availability: HostAvailability, remote: ResolvedRemote): Promise<CachedCopy | undefined> {
  const record = await availability.cache.readRecord(remote.name, remote.manifestUrl);
  if (!record) return undefined;
  const [bytes, signature] = await Promise.all([
    availability.cachedFile(record.manifest),
    record.signature === undefined ? undefined : availability.cachedFile(record.signature),
  ]);
  if (!bytes || (record.signature !== undefined && !signature)) return undefined;
  return { record, bytes, signature };
}

async function fetchFromRemote(
  remote: ResolvedRemote,
  context: TrustContext,
  availability: HostAvailability,
  cached: CachedCopy | undefined,
): Promise<TrustedManifest> {
  const { host } = context;
  const signed = remote.publicKeys.length > 0;
  const signatureUrl = new URL(SIGNATURE_FILE, remote.manifestUrl).href;
  const fetchSignature = () =>
    availability.fetch(remote, signatureUrl, {
      maxBytes: MAX_SIGNATURE_BYTES,
      what: 'manifest signature',
      allowNotFound: true,
    });
  // Without a cached copy the signature is fetched beside the manifest; with one, only if the manifest changed.
  const conditional = cached?.record.etag !== undefined && (!signed || cached.signature !== undefined);
  const early = signed && !conditional ? fetchSignature() : undefined;
  early?.catch(() => {});
  const started = performance.now();
  const response = await availability.fetch(remote, remote.manifestUrl, {
    maxBytes: host.maxManifestBytes,
    what: 'manifest',
    etag: conditional ? cached?.record.etag : undefined,
    // With a verified copy to fall back on, the import does not wait out retries: the background refresh retries.
    once: cached !== undefined && remote.availability.staleIfError,
  });
  channels.fetch.publish({
    host: host.name,
    remote: remote.alias,
    url: response.url,
    status: response.status,
    bytes: response.bytes.byteLength,
    durationMs: performance.now() - started,
  });
  if (response.status === 304 && cached) {
    const trusted = {
      ...(await accept(remote, context, cached.bytes, cached.signature, 'network', () =>
        availability.track(writeRecord(availability, remote, cached.bytes, cached.signature, response.etag)),
      )),
      notModified: true,
    };
    availability.markCached(trusted.manifest);
    return trusted;
  }
  let signature: Uint8Array | undefined;
  if (signed) {
    const sig = await (early ?? fetchSignature());
    signature = await signatureOfExactBytes(
      remote,
      availability,
      response.bytes,
      sig.status === 404 ? undefined : sig.bytes,
    );
  }
  return accept(remote, context, response.bytes, signature, 'network', () =>
    availability.track(writeRecord(availability, remote, response.bytes, signature, response.etag)),
  );
}

/**
 * The signature for exactly these manifest bytes, just fetched from the network. A remote rebuilt in place writes its
 * manifest and `mf-manifest.json.sig` one after the other, so the two fetched side by side may belong to different
 * builds; `ferry build` also writes the signature under a name made from the manifest bytes it signs
 * (`signatureFileFor`) before the manifest, and keeps the previous build's. When the signature fetched beside the
 * manifest does not verify, that copy is fetched and returned if it verifies; otherwise (a 404 from an older build or
 * another server, any failure) the original signature is returned, so accept() reports the original error.
 */
async function signatureOfExactBytes(
  remote: ResolvedRemote,
  availability: HostAvailability,
  bytes: Uint8Array,
  signature: Uint8Array | undefined,
): Promise<Uint8Array | undefined> {
  const details = { remote: remote.alias, url: remote.manifestUrl };
  try {
    verifySignatureFile(bytes, signature, remote.publicKeys, details);
    return signature;
  } catch (error) {
    if (!(error instanceof SignatureError)) throw error;
  }
  try {
    const copy = await availability.fetch(remote, new URL(signatureFileFor(bytes), remote.manifestUrl).href, {
      maxBytes: MAX_SIGNATURE_BYTES,
      what: 'manifest signature',
      allowNotFound: true,
    });
    if (copy.status === 404) return signature;
    verifySignatureFile(bytes, copy.bytes, remote.publicKeys, details);
    return copy.bytes;
  } catch {
    return signature;
  }
}

/** Stores the manifest's bytes (and signature) by content and makes them the remote's record. */
async function writeRecord(
  availability: HostAvailability,
  remote: ResolvedRemote,
  bytes: Uint8Array,
  signature: Uint8Array | undefined,
  etag: string | undefined,
): Promise<void> {
  const manifest = integrityOf(bytes);
  const signatureIntegrity = signature && integrityOf(signature);
  await Promise.all([
    availability.store(manifest, bytes),
    signature && signatureIntegrity ? availability.store(signatureIntegrity, signature) : undefined,
  ]);
  const record: ManifestRecord = {
    formatVersion: 1,
    url: remote.manifestUrl,
    manifest,
    ...(signatureIntegrity ? { signature: signatureIntegrity } : {}),
    ...(etag ? { etag } : {}),
    fetchedAt: Date.now(),
  };
  await availability.track(availability.cache.writeRecord(remote.name, record)).catch((error: unknown) => {
    availability.warn(
      'FERRY_CACHE_WRITE',
      `The host could not record the manifest of remote "${remote.alias}" in its cache ${availability.cache.dir} ` +
        `(${(error as Error).message}); it cannot start from the cache while that remote is down. Make \`cacheDir\` ` +
        "a folder the host's user can write.",
    );
  });
}

/**
 * The checks every manifest passes, fetched or cached: signature, name, expiry, rollback. Its release and cache
 * record are written later, by its `commit()`, when its version becomes current.
 */
async function accept(
  remote: ResolvedRemote,
  context: TrustContext,
  bytes: Uint8Array,
  signature: Uint8Array | undefined,
  source: TrustedManifest['source'],
  writeCacheRecord: () => unknown,
): Promise<TrustedManifest> {
  const { host } = context;
  const details = { remote: remote.alias, url: remote.manifestUrl };
  let signedBy: string | undefined;
  if (remote.publicKeys.length > 0) {
    signedBy = verifySignatureFile(bytes, signature, remote.publicKeys, details);
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
  checkNotExpired(manifest, host.now(), details);
  const key = releaseKey(manifest.name, remote.manifestUrl);
  const integrity = integrityOf(bytes);
  context.releases.check(key, manifest.ferry.release, integrity, details);
  const commit = async () => {
    // Both are on disk before the version runs: a host restarted a moment later starts from this version. They are
    // independent files, written side by side: a crash between the two leaves at most a cache record newer than the
    // release floor, which a restarted host accepts (and then records).
    await Promise.all([
      context.releases.accept(key, manifest.ferry.release, integrity, signedBy !== undefined),
      writeCacheRecord(),
    ]);
  };
  return { manifest, signedBy, source, integrity, notModified: false, commit };
}
