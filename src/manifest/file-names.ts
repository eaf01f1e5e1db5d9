/**
 * Content-addressed names of the two files a host reads by a name it cannot know in advance, so that a folder rebuilt
 * in place never pairs bytes of one build with a manifest of another:
 *
 * - the container, `remoteEntry.<10 hex>.js` (the configured `filename` with a hash of its bytes, like the bundles),
 *   which `ferry.remoteEntry` and `ferry.files` name; the plain `remoteEntry.js` is still written, with the same
 *   bytes, for Module Federation tooling, and is not listed;
 * - a copy of the signature, `mf-manifest.<32 hex>.sig`, named by the manifest bytes it signs. The manifest and
 *   `mf-manifest.json.sig` are two files written one after the other; a host that fetched them side by side from two
 *   builds fetches the copy for the exact manifest bytes it holds. The build writes it before the manifest.
 */
import { createHash } from 'node:crypto';

const SIGNATURE_COPY = /^mf-manifest\.[0-9a-f]{32}\.sig$/;

/**
 * The name of the signature copy for some manifest bytes: the first 32 hex characters (128 bits) of their sha384.
 *
 * @example
 * ```ts
 * signatureFileFor(manifestBytes); // 'mf-manifest.3f9a1c02bd0e4f6a8b7c9d1e2f3a4b5c.sig'
 * ```
 */
export function signatureFileFor(manifestBytes: Uint8Array): string {
  return `mf-manifest.${createHash('sha384').update(manifestBytes).digest('hex').slice(0, 32)}.sig`;
}

/** True for a name {@link signatureFileFor} makes (of any manifest). */
export function isSignatureFileCopy(name: string): boolean {
  return SIGNATURE_COPY.test(name);
}

/**
 * The content-addressed name of the container: the configured `filename` (`remoteEntry.js`) with the first 10 hex
 * characters of the sha256 of its bytes before `.js`, as the bundles are named.
 *
 * @example
 * ```ts
 * containerFileFor('remoteEntry.js', bytes); // 'remoteEntry.5d41402abc.js'
 * ```
 */
export function containerFileFor(filename: string, bytes: Uint8Array): string {
  const hash = createHash('sha256').update(bytes).digest('hex').slice(0, 10);
  return `${filename.replace(/\.js$/, '')}.${hash}.js`;
}

/** True when `name` is a content-addressed container made by {@link containerFileFor} from `filename`. */
export function isContainerFileOf(name: string, filename: string): boolean {
  const stem = filename.replace(/\.js$/, '');
  return name.startsWith(stem) && /^\.[0-9a-f]{10}\.js$/.test(name.slice(stem.length));
}
