/**
 * The push channel's announcement (`event: manifest` on `mf-manifest.events`), written by the server and read by
 * hosts. Its data is one JSON line:
 *
 * ```json
 * {"integrity":"sha384-…","version":"1.4.0","release":7,"manifest":"<base64>","signature":"<base64>","etag":"\"sha384-…\""}
 * ```
 *
 * `integrity`, `version` and `release` say which build is current. `manifest` and `signature` carry the bytes of
 * `mf-manifest.json` and of its signature when they are small ({@link MAX_PUSHED_MANIFEST_BYTES}), so a host can check
 * and activate a build with one request (its changed files) instead of three; `etag` is the ETag the server answers
 * for that manifest, for the host's later conditional requests. The bytes carry no authority: a host uses them only
 * for a signed remote, only when they hash to `integrity`, and only through every check a fetched manifest passes
 * (signature against its pinned keys, name, expiry, rollback); whenever they fail one, it fetches the manifest as if
 * they had not been sent. Servers before this field send the first three keys only, and hosts before it ignore the
 * rest.
 */
import { integrityOf } from './integrity.ts';

/** The largest manifest whose bytes ride in an announcement; a larger one is announced and fetched. */
export const MAX_PUSHED_MANIFEST_BYTES = 16 * 1024;
/** The largest signature file whose bytes ride in an announcement (the build writes a few hundred bytes). */
export const MAX_PUSHED_SIGNATURE_BYTES = 4096;

/** A manifest's bytes (and its signature's) as an announcement delivered them, hashed to the announced integrity. */
export interface PushedManifest {
  integrity: string;
  bytes: Uint8Array;
  signature: Uint8Array | undefined;
  etag: string | undefined;
}

/** An announcement as a host reads it: the integrity (absent when the data did not say) and any bytes it carried. */
export interface ManifestAnnouncement {
  integrity: string | undefined;
  pushed: PushedManifest | undefined;
}

const INTEGRITY = /^sha384-[A-Za-z0-9+/]{64}$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
// An entity tag as RFC 9110 defines it, bounded.
const ETAG = /^(?:W\/)?"[\x21\x23-\x7e]{0,200}"$/;

/**
 * The data line announcing the manifest `bytes`, with `signature` (the signature file for exactly these bytes, if
 * any) and the bytes themselves when both are small enough; undefined when `bytes` are not a JSON object (a copy
 * caught half-way through a write: read it again).
 *
 * @example
 * ```ts
 * const data = manifestEventData(bytes, signature);
 * if (data !== undefined) res.write(`event: manifest\ndata: ${data}\n\n`);
 * ```
 */
export function manifestEventData(bytes: Uint8Array, signature: Uint8Array | undefined): string | undefined {
  let manifest: { ferry?: { version?: unknown; release?: unknown } } | null;
  try {
    manifest = JSON.parse(Buffer.from(bytes).toString('utf8')) as typeof manifest;
  } catch {
    return undefined;
  }
  if (typeof manifest !== 'object' || manifest === null) return undefined;
  const integrity = integrityOf(bytes);
  const data: Record<string, unknown> = {
    integrity,
    version: manifest.ferry?.version,
    release: manifest.ferry?.release,
  };
  if (
    bytes.byteLength <= MAX_PUSHED_MANIFEST_BYTES &&
    (signature === undefined || signature.byteLength <= MAX_PUSHED_SIGNATURE_BYTES)
  ) {
    data.manifest = Buffer.from(bytes).toString('base64');
    if (signature !== undefined) data.signature = Buffer.from(signature).toString('base64');
    // What createRequestHandler answers as the manifest's ETag (cache-policy.ts etagOf): its integrity, quoted.
    data.etag = `"${integrity}"`;
  }
  return JSON.stringify(data);
}

/**
 * Reads an announcement's data. Never throws: data that is not JSON announces nothing in particular (the host checks
 * anyway), and bytes that are malformed, too large or do not hash to the announced integrity are dropped (the host
 * fetches the manifest instead).
 *
 * @example
 * ```ts
 * const { integrity, pushed } = parseManifestEvent(data);
 * ```
 */
export function parseManifestEvent(data: string): ManifestAnnouncement {
  let parsed: Record<string, unknown>;
  try {
    const value: unknown = JSON.parse(data);
    if (typeof value !== 'object' || value === null) return { integrity: undefined, pushed: undefined };
    parsed = value as Record<string, unknown>;
  } catch {
    return { integrity: undefined, pushed: undefined };
  }
  const integrity = typeof parsed.integrity === 'string' ? parsed.integrity : undefined;
  if (integrity === undefined || !INTEGRITY.test(integrity)) return { integrity, pushed: undefined };
  const bytes = decodeBase64(parsed.manifest, MAX_PUSHED_MANIFEST_BYTES);
  if (bytes === undefined || integrityOf(bytes) !== integrity) return { integrity, pushed: undefined };
  let signature: Uint8Array | undefined;
  if (parsed.signature !== undefined) {
    signature = decodeBase64(parsed.signature, MAX_PUSHED_SIGNATURE_BYTES);
    if (signature === undefined) return { integrity, pushed: undefined };
  }
  const etag = typeof parsed.etag === 'string' && ETAG.test(parsed.etag) ? parsed.etag : undefined;
  return { integrity, pushed: { integrity, bytes, signature, etag } };
}

/** Strict base64 of at most `maxBytes` decoded bytes, else undefined. */
function decodeBase64(value: unknown, maxBytes: number): Uint8Array | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length % 4 !== 0) return undefined;
  if (value.length > Math.ceil(maxBytes / 3) * 4 || !BASE64.test(value)) return undefined;
  const bytes = Buffer.from(value, 'base64');
  return bytes.byteLength <= maxBytes ? bytes : undefined;
}
