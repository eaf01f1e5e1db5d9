/**
 * Which files may be cached forever and how entity tags are made and compared.
 *
 * A file whose name carries a content hash (`tokenValidator.ABCD1234.js`, `.js.map`, `.d.ts`, the container the
 * manifest lists, `remoteEntry.<hash>.js`, and the signature's copy `mf-manifest.<hash>.sig`) never changes under that
 * name, so it is `immutable` for a year. Everything else (the manifest, `mf-manifest.json.sig`, the container under its
 * configured name `remoteEntry.js`, and any name without a hash) is revalidated on every use with `no-cache` and a
 * strong ETag, so a rebuilt folder is seen at once. The hash pattern is deliberately narrow: wrongly calling a file immutable would pin stale code in
 * caches for a year, while missing a hash only costs a revalidation.
 */
import { hash } from 'node:crypto';

/** `Cache-Control` for content-hashed files. */
export const IMMUTABLE = 'public, max-age=31536000, immutable';
/** `Cache-Control` for the manifest, its signature, the container's configured name and every other unhashed name. */
export const REVALIDATE = 'no-cache';

// `<name>.<hash>.<ext>`: the hash is 8–64 characters of either upper-case base32/alphanumerics (esbuild's `[hash]`)
// or lower-case hex with at least one digit, so words such as `.browser.` or `.polyfill.` never count as hashes.
const HASHED = /\.(?:[A-Z0-9]{8,64}|(?=[a-f]*[0-9])[a-f0-9]{8,64})\.(?:js|cjs|mjs|js\.map|cjs\.map|mjs\.map|d\.ts)$/;

/**
 * True when the file name carries a content hash. The caller still excludes the container's fixed names
 * (container-name.ts).
 *
 * @example
 * ```ts
 * looksContentHashed('tokenValidator.ABCD1234.js'); // true
 * looksContentHashed('remoteEntry.js'); // false
 * ```
 */
export function looksContentHashed(name: string): boolean {
  return HASHED.test(name);
}

/**
 * A strong entity tag for some bytes: the file's `sha384-` integrity in quotes, the same string the manifest lists
 * in `ferry.files`, so a client can compare the two without hashing.
 *
 * @example
 * ```ts
 * etagOf(Buffer.from('hello')); // '"sha384-WeF0h3dEjGnea4ANejO7+5/xtGPkQ1TDVTvNucZm+pASWjx5+QOXvfX2oT3oKGhP"'
 * ```
 */
export function etagOf(bytes: Uint8Array): string {
  return `"sha384-${hash('sha384', bytes, 'base64')}"`;
}

/**
 * True when an `If-None-Match` header matches `etag`. As RFC 9110 requires for this header, the comparison is weak:
 * a `W/` prefix on either side is ignored. Handles lists (`"a", W/"b"`) and `*`.
 *
 * @example
 * ```ts
 * ifNoneMatchMatches('W/"x", "y"', '"y"'); // true
 * ```
 */
export function ifNoneMatchMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const wanted = opaque(etag);
  // Entity tags cannot contain commas or spaces (etagc excludes them), so splitting on commas is exact.
  for (const part of header.split(',')) {
    const tag = part.trim();
    if (tag === '*' || opaque(tag) === wanted) return true;
  }
  return false;
}

function opaque(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}
