/**
 * The signature file as the host accepts it: the Ed25519 signature over the manifest's exact bytes must verify with
 * a pinned key (manifest/signature.ts), and the file itself must be byte for byte what `ferry build --sign` writes
 * for that signature and that key. The second rule closes the parts of the file the signature does not cover: the
 * `publicKey` it names (which must be the key that verified), its whitespace, and base64 text that decodes to the
 * same bytes in several spellings. So any change to the file, however harmless it looks, is refused.
 */
import type { KeyObject } from 'node:crypto';
import { SignatureError } from '../../common/errors.ts';
import { parsePublicKey, verifyManifestSignature } from '../../manifest/index.ts';

/**
 * Pinned keys parsed (node:crypto `createPublicKey`), by their canonical string, shared by every remote and host of
 * the process: parsing a key cost more than verifying with it, and remotes often pin the same key (one signing key
 * for a team's or a company's builds). A key object holds 32 bytes and is immutable; the map is bounded by
 * {@link MAX_PARSED_KEYS} (emptied when full), so a process that pins ever more keys keeps only the recent ones.
 */
const parsedKeys = new Map<string, KeyObject>();
const MAX_PARSED_KEYS = 256;

function keyObjectOf(key: string): KeyObject {
  let object = parsedKeys.get(key);
  if (!object) {
    object = parsePublicKey(key);
    if (parsedKeys.size >= MAX_PARSED_KEYS) parsedKeys.clear();
    parsedKeys.set(key, object);
  }
  return object;
}

/**
 * Verifies `signatureBytes` (undefined when the remote has no signature file) over `manifestBytes` against the pinned
 * keys and resolves to the key that verified; throws {@link SignatureError} otherwise.
 */
export function verifySignatureFile(
  manifestBytes: Uint8Array,
  signatureBytes: Uint8Array | undefined,
  pinnedKeys: readonly string[],
  details: { remote: string; url: string },
): string {
  const key = verifyManifestSignature(manifestBytes, signatureBytes, pinnedKeys, details, keyObjectOf);
  // verifyManifestSignature has read the file as JSON with a well-formed `signature` string; the exact bytes are
  // compared with what the build writes for it (a byte-order mark, other white space or another key all differ).
  let signature: string;
  try {
    ({ signature } = JSON.parse(new TextDecoder().decode(signatureBytes)) as { signature: string });
  } catch (cause) {
    throw new SignatureError(`The signature file of remote "${details.remote}" (for ${details.url}) cannot be read.`, {
      ...details,
      cause,
    });
  }
  const canonical = `${JSON.stringify({ algorithm: 'ed25519', publicKey: key, signature }, null, 2)}\n`;
  const canonicalBase64 = Buffer.from(signature, 'base64').toString('base64') === signature;
  if (!Buffer.from(canonical).equals(Buffer.from(signatureBytes!)) || !canonicalBase64) {
    throw new SignatureError(
      `The signature file of remote "${details.remote}" (for ${details.url}) verifies, but it is not exactly what ` +
        '`ferry build --sign` writes (it was edited: its publicKey, layout, encoding or base64 spelling differs), ' +
        'so it is refused. Serve the signature file from the build output unchanged.',
      details,
    );
  }
  return key;
}
