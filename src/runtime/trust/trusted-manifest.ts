/**
 * The second stage of a load: a remote's manifest, fetched and accepted (manifest-checks.ts). With a cached copy the
 * request is conditional (a 304 costs no bytes, and the cached bytes go through the checks again), and when the
 * remote is unavailable the cached copy is accepted instead (stale-if-error, cache/stale-if-error.ts), through the
 * same checks, while the host keeps trying the remote in the background.
 */
import { FerryError, SignatureError } from '../../common/errors.ts';
import { type PushedManifest, SIGNATURE_FILE, signatureFileFor } from '../../manifest/index.ts';
import { type CachedCopy, type HostCache, MAX_SIGNATURE_BYTES } from '../cache/host-cache.ts';
import type { StaleIfErrorPolicy } from '../cache/stale-if-error.ts';
import { channels } from '../channels.ts';
import { fetchMfRemote } from '../mf/mf-remote.ts';
import { isUnavailable } from '../net/failures.ts';
import type { Fetcher } from '../net/remote-client.ts';
import type { ResolvedRemote } from '../options/remote-options.ts';
import type { RemoteRecord } from '../remotes.ts';
import { type ChannelContext, type ChannelDecision, resolveChannel } from './channel.ts';
import { acceptManifest, type CheckContext, type TrustedManifest, type VerifiedSignature } from './manifest-checks.ts';
import { verifySignatureFile } from './signature-file.ts';

export type { TrustedManifest } from './manifest-checks.ts';

/** What the host lends to the manifest stage. */
export interface TrustContext extends CheckContext, Omit<ChannelContext, 'client' | 'now'> {
  host: string;
  maxManifestBytes: number;
  client: Fetcher;
  cache: HostCache;
  stale: StaleIfErrorPolicy;
  /** A background refresh of a remote served from the cache found another manifest: verify and swap it. */
  onChanged(record: RemoteRecord): void;
}

/** How a manifest is asked for. */
export interface ManifestRequest {
  /** The manifest as the remote's push channel delivered it: accepted without a request if it passes every check. */
  pushed?: PushedManifest | undefined;
  /**
   * Whether the cached copy answers when the remote is unavailable (default true, with the remote's
   * `cache.staleIfError`). A live-update check says false: the host runs a version already, and a remote the check
   * could not ask is a failed check (asked again), not an unchanged one.
   */
  staleIfError?: boolean;
}

/**
 * Fetches, verifies and accepts the manifest of `record`'s remote (or of `remote`, the options an alias is being
 * re-pointed to); throws a typed error naming the remote, the URL and the fix.
 */
export async function fetchTrustedManifest(
  record: RemoteRecord,
  context: TrustContext,
  remote: ResolvedRemote = record.options,
  { pushed, staleIfError = true }: ManifestRequest = {},
): Promise<TrustedManifest> {
  // A webpack/rspack Module Federation remote is trusted by the host's lock file instead (mf/mf-remote.ts).
  if (remote.type === 'module-federation') return fetchMfRemote(record, context, remote, staleIfError);
  const delivered = pushed && acceptPushed(remote, context, pushed);
  if (delivered) {
    context.stale.backOnline(record, { version: delivered.manifest.ferry.version, integrity: delivered.integrity });
    return delivered;
  }
  const cached = await context.cache.readCopy(remote);
  let trusted: TrustedManifest;
  try {
    trusted = await fetchFromRemote(record, remote, context, cached);
  } catch (error) {
    if (!cached || !staleIfError || !remote.cache.staleIfError || !isUnavailable(error)) throw error;
    try {
      // Served stale: its record stays as it is (its age is when the remote last served it).
      trusted = acceptManifest(
        remote,
        context,
        cached.bytes,
        cached.signature,
        { source: 'cache', fromCache: true },
        () => {},
      );
    } catch {
      // The cached copy no longer passes (expired, rolled back, key rotated): the remote's error is the answer.
      throw error;
    }
    const served = { version: trusted.manifest.ferry.version, integrity: trusted.integrity };
    context.stale.servedStale(record, served, cached.record.fetchedAt, error as FerryError, () =>
      refresh(record, context, served.integrity),
    );
    return trusted;
  }
  context.stale.backOnline(record, { version: trusted.manifest.ferry.version, integrity: trusted.integrity });
  return trusted;
}

/**
 * The background refresh of a remote served from the cache (`served`: the integrity of that copy): one conditional
 * request. Unchanged, the copy in use is confirmed (its record gets the new time and ETag); changed, the new manifest
 * goes through live updates' verify-then-swap, which commits it if it becomes current.
 */
async function refresh(record: RemoteRecord, context: TrustContext, served: string): Promise<void> {
  const trusted = await fetchTrustedManifest(record, context);
  if (trusted.source === 'cache') return;
  // Compared with the copy that was served stale (the push channel may have swapped a new version in meanwhile).
  if (trusted.integrity === served) await trusted.commit();
  else context.onChanged(record);
}

/**
 * A manifest delivered by the remote's push channel, accepted as a fetched one would be (the same checks: signature
 * against the pinned keys, name, expiry, rollback), or undefined, and the caller fetches it: for an unsigned remote
 * (its push channel is no authority on what the manifest is), a remote followed through a channel (the release it
 * names for this host may be another), and bytes that fail any check.
 */
function acceptPushed(
  remote: ResolvedRemote,
  context: TrustContext,
  pushed: PushedManifest,
): TrustedManifest | undefined {
  if (remote.publicKeys.length === 0 || remote.channel !== undefined) return undefined;
  if (pushed.bytes.byteLength > context.maxManifestBytes) return undefined;
  const { bytes, signature, etag } = pushed;
  try {
    const key = verifySignatureFile(bytes, signature, remote.publicKeys, {
      remote: remote.alias,
      url: remote.manifestUrl,
    });
    return acceptNew(remote, context, bytes, signature, etag, { bytes, signature, keys: remote.publicKeys, key });
  } catch (error) {
    if (error instanceof FerryError) return undefined;
    throw error;
  }
}

async function fetchFromRemote(
  record: RemoteRecord,
  remote: ResolvedRemote,
  context: TrustContext,
  cached: CachedCopy | undefined,
): Promise<TrustedManifest> {
  const { client, cache } = context;
  const signed = remote.publicKeys.length > 0;
  const request = { state: record, remote };
  // Through a channel, the manifest is the release the channel names for this host (releases/<release>.json).
  const channel = remote.channel ? await resolveChannel(record, remote, context) : undefined;
  const manifestUrl = channel?.manifestUrl ?? remote.manifestUrl;
  const fetchSignature = () =>
    client({
      ...request,
      url: channel?.signatureUrl ?? new URL(SIGNATURE_FILE, remote.manifestUrl).href,
      maxBytes: MAX_SIGNATURE_BYTES,
      what: 'manifest signature',
      allowNotFound: true,
    });
  // Without a cached copy the signature is fetched beside the manifest; with one, only if the manifest changed.
  const conditional = cached?.record.etag !== undefined && (!signed || cached.signature !== undefined);
  const early = signed && !conditional ? fetchSignature() : undefined;
  early?.catch(() => {});
  const started = performance.now();
  const response = await client({
    ...request,
    url: manifestUrl,
    maxBytes: context.maxManifestBytes,
    what: 'manifest',
    etag: conditional ? cached?.record.etag : undefined,
    // With a verified copy to fall back on, the import does not wait out retries: the background refresh retries. A
    // live-update check (which does not fall back) asks once in the same case (a cached copy, `cache.staleIfError`
    // on): a failed check is asked again later, with backoff, so a fleet of hosts checking an overloaded remote does
    // not multiply its requests.
    once: cached !== undefined && remote.cache.staleIfError,
  });
  channels.fetch.publish({
    host: context.host,
    remote: remote.alias,
    url: response.url,
    status: response.status,
    bytes: response.bytes.byteLength,
    durationMs: performance.now() - started,
  });
  if (response.status === 304 && cached) {
    return acceptManifest(
      remote,
      context,
      cached.bytes,
      cached.signature,
      { source: 'network', fromCache: true, ...(channel ? { channel } : {}) },
      () => {
        // The record on disk already names these very bytes (they were just read back through it), so the version is
        // whole on disk as it is: refreshing the record's time and ETag does not hold its code back. Tracked, so
        // host.close() waits for it; a host that exits first keeps the record as it was.
        void cache.track(cache.confirmRecord(remote, cached, response.etag));
      },
    );
  }
  let signature: Uint8Array | undefined;
  let verified: VerifiedSignature | undefined;
  if (signed) {
    const sig = await (early ?? fetchSignature());
    ({ signature, verified } = await signatureOfExactBytes(
      record,
      remote,
      client,
      response.bytes,
      sig.status === 404 ? undefined : sig.bytes,
    ));
  }
  return acceptNew(remote, context, response.bytes, signature, response.etag, verified, channel);
}

/**
 * Accepts a manifest new to the cache (fetched, or delivered by the push channel). Committing it (before its code
 * runs) writes the remote's record, which holds the manifest's and signature's bytes (one file).
 */
function acceptNew(
  remote: ResolvedRemote,
  context: TrustContext,
  bytes: Uint8Array,
  signature: Uint8Array | undefined,
  etag: string | undefined,
  verified: VerifiedSignature | undefined,
  channel?: ChannelDecision,
): TrustedManifest {
  const { cache } = context;
  return acceptManifest(
    remote,
    context,
    bytes,
    signature,
    { source: 'network', fromCache: false, ...(channel ? { channel } : {}) },
    () => cache.track(cache.writeRecord(remote, bytes, signature, etag)),
    verified,
  );
}

/**
 * The signature for exactly these manifest bytes, just fetched from the network. A remote rebuilt in place writes its
 * manifest and `mf-manifest.json.sig` one after the other, so the two fetched side by side may belong to different
 * builds; `ferry build` also writes the signature under a name made from the manifest bytes it signs
 * (`signatureFileFor`) before the manifest, and keeps the previous build's. When the signature fetched beside the
 * manifest does not verify, that copy is fetched and returned if it verifies; otherwise (a 404 from an older build or
 * another server, any failure) the original signature is returned, so the checks report the original error.
 * `verified` says which key verified the signature returned, so the checks do not verify it a second time.
 */
async function signatureOfExactBytes(
  record: RemoteRecord,
  remote: ResolvedRemote,
  client: Fetcher,
  bytes: Uint8Array,
  signature: Uint8Array | undefined,
): Promise<{ signature: Uint8Array | undefined; verified?: VerifiedSignature }> {
  const details = { remote: remote.alias, url: remote.manifestUrl };
  const keys = remote.publicKeys;
  try {
    const key = verifySignatureFile(bytes, signature, keys, details);
    return { signature, verified: { bytes, signature, keys, key } };
  } catch (error) {
    if (!(error instanceof SignatureError)) throw error;
  }
  try {
    const copy = await client({
      state: record,
      remote,
      url: new URL(signatureFileFor(bytes), remote.manifestUrl).href,
      maxBytes: MAX_SIGNATURE_BYTES,
      what: 'manifest signature',
      allowNotFound: true,
    });
    if (copy.status === 404) return { signature };
    const key = verifySignatureFile(bytes, copy.bytes, keys, details);
    return { signature: copy.bytes, verified: { bytes, signature: copy.bytes, keys, key } };
  } catch {
    return { signature };
  }
}
