/**
 * Detached Ed25519 signatures over the manifest's exact bytes (node:crypto; no canonicalisation is needed because
 * the host verifies the bytes it received before it parses them).
 *
 * Public keys travel as one short string, `ed25519:<base64url of the 32 raw key bytes>`, that fits in a config file
 * or an environment variable. Private keys are PKCS#8 PEM files written by `ferry keygen`.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign, verify } from 'node:crypto';
import { InvalidOptionError, SignatureError } from '../common/errors.ts';

const PUBLIC_KEY = /^ed25519:([A-Za-z0-9_-]{43})$/;
const MAX_SIGNATURE_FILE = 4096;

/** A new key pair: the private key as PKCS#8 PEM (keep it secret) and the public key string to pin on hosts. */
export function generateSigningKeys(): { privateKeyPem: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: formatPublicKey(publicKey),
  };
}

function formatPublicKey(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' });
  return `ed25519:${jwk.x}`;
}

/** The field prime of Ed25519, 2^255 - 19. */
const P = (1n << 255n) - 19n;
/**
 * The y coordinates of the points of small order (1, 2, 4, 8): a "public key" at one of them verifies signatures
 * that prove nothing about who made them (an attacker can produce signatures that pass for any message with some
 * probability), so such a key is never accepted.
 */
const SMALL_ORDER_Y = (() => {
  const y8 = BigInt('0x7a03ac9277fdc74ec6cc392cfa53202a0f67100d760b3cba4fd84d3d706a17c7');
  return new Set([0n, 1n, P - 1n, y8, P - y8]);
})();

function invalidKey(option: string, text: string, why: string): never {
  throw new InvalidOptionError(
    `${option} ${why}; a ferry public key is "ed25519:" followed by the 43 base64url characters \`ferry keygen\` ` +
      `prints, got ${JSON.stringify(text.slice(0, 60))}. Copy the key again from \`ferry keygen\`'s output (or the ` +
      'build summary of `ferry build --sign`).',
    { option },
  );
}

/**
 * The canonical spelling of a public key string, or an {@link InvalidOptionError} naming `option` and what is wrong.
 * White space around the key (a newline from a file or an environment variable) is dropped. Refused: anything that is
 * not `ed25519:` and 43 base64url characters; a last character that is not the canonical one for the 32 bytes it
 * encodes (base64url ignores its low bits, so several spellings decode alike, and only one is what `ferry keygen`
 * prints); and keys that can never be a real signer's (a non-canonical point, or a point of small order).
 */
export function normalisePublicKey(text: string, option = 'publicKey'): string {
  if (typeof text !== 'string') return invalidKey(option, String(text), 'must be a string');
  const trimmed = text.trim();
  const match = PUBLIC_KEY.exec(trimmed);
  if (!match) return invalidKey(option, text, 'must be a ferry public key');
  const bytes = Buffer.from(match[1]!, 'base64url');
  const canonical = `ed25519:${bytes.toString('base64url')}`;
  if (canonical !== trimmed) {
    return invalidKey(
      option,
      text,
      `is not spelled canonically (its last character should be "${canonical.at(-1)}": the one ferry keygen prints ` +
        'for these bytes), so it was probably mistyped or truncated',
    );
  }
  // y is the 32 bytes little-endian without the top bit (the sign of x). One BigInt from hex: a loop of BigInt shifts
  // cost ~60 µs a key in a fresh process, where every remote's key is checked as a host starts (bench/ROUNDS.md,
  // fifteenth round).
  const littleEndian = Buffer.from(bytes);
  littleEndian[31]! &= 0x7f;
  const y = BigInt(`0x${littleEndian.reverse().toString('hex')}`);
  if (y >= P || SMALL_ORDER_Y.has(y)) {
    return invalidKey(
      option,
      text,
      'is a degenerate Ed25519 key (a point of small order or out of range) that no real signer has',
    );
  }
  return canonical;
}

/** Turns a public key string into a key object, or throws {@link InvalidOptionError} naming `option`. */
export function parsePublicKey(text: string, option = 'publicKey'): KeyObject {
  const canonical = normalisePublicKey(text, option);
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: canonical.slice('ed25519:'.length) }, format: 'jwk' });
}

/** Reads a PKCS#8 PEM private key; `source` names the file or variable in the error. */
export function parsePrivateKey(pem: string, source: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (cause) {
    throw new InvalidOptionError(
      `The signing key in ${source} is not a PEM private key. Create one with \`ferry keygen\`.`,
      {
        option: 'sign',
        file: source,
        cause,
      },
    );
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new InvalidOptionError(
      `The signing key in ${source} is a ${key.asymmetricKeyType} key; ferry signs with Ed25519. Create one with \`ferry keygen\`.`,
      { option: 'sign', file: source },
    );
  }
  return key;
}

/** The public key string that belongs to a private key. */
export function publicKeyOf(privateKey: KeyObject): string {
  return formatPublicKey(createPublicKey(privateKey));
}

/** Contents of the detached signature file for some manifest bytes. */
export function signManifest(manifestBytes: Uint8Array, privateKey: KeyObject): string {
  const signature = sign(null, manifestBytes, privateKey).toString('base64');
  return `${JSON.stringify({ algorithm: 'ed25519', publicKey: publicKeyOf(privateKey), signature }, null, 2)}\n`;
}

/**
 * Checks a detached signature over the exact manifest bytes against the pinned keys (any one may match, so keys
 * can be rotated). Returns the key string that verified; throws {@link SignatureError} otherwise. `keyOf` turns a
 * pinned key into a KeyObject (default: {@link parsePublicKey}; a caller verifying often passes one that parses each
 * key once).
 */
export function verifyManifestSignature(
  manifestBytes: Uint8Array,
  signatureBytes: Uint8Array | undefined,
  pinnedKeys: readonly string[],
  details: { remote: string; url: string },
  keyOf: (key: string) => KeyObject = parsePublicKey,
): string {
  const fail = (why: string, cause?: unknown): never => {
    throw new SignatureError(
      `The manifest of remote "${details.remote}" at ${details.url} ${why}. ` +
        'Serve the signature that `ferry build --sign` wrote beside the manifest, or pin the key that signed it.',
      { ...details, cause },
    );
  };
  if (signatureBytes === undefined) return fail('has no signature, and the host pins a key for this remote');
  if (signatureBytes.byteLength > MAX_SIGNATURE_FILE) return fail('has a signature file that is too large');
  let parsed: { algorithm?: unknown; publicKey?: unknown; signature?: unknown };
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(signatureBytes));
  } catch (cause) {
    return fail('has a signature file that is not valid JSON', cause);
  }
  if (typeof parsed !== 'object' || parsed === null || parsed.algorithm !== 'ed25519') {
    return fail('has a signature file whose algorithm is not ed25519');
  }
  if (typeof parsed.signature !== 'string' || !/^[A-Za-z0-9+/]{86}==$/.test(parsed.signature)) {
    return fail('has a malformed signature (an Ed25519 signature is 64 bytes of base64)');
  }
  const signature = Buffer.from(parsed.signature, 'base64');
  for (const key of pinnedKeys) {
    if (verify(null, manifestBytes, keyOf(key), signature)) return key;
  }
  const claimed = typeof parsed.publicKey === 'string' ? ` (it names key ${parsed.publicKey.slice(0, 60)})` : '';
  return fail(`has a signature that no pinned key verifies${claimed}`);
}
