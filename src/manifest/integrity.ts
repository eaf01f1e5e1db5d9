/** Hashing of build files: Subresource-Integrity style `sha384-<base64>` strings over exact bytes. */
import { hash } from 'node:crypto';

const INTEGRITY = /^sha384-[A-Za-z0-9+/]{64}$/;

/** True for a well-formed `sha384-…` integrity string. */
export function isIntegrity(value: string): boolean {
  return INTEGRITY.test(value);
}

/**
 * The `sha384-<base64>` integrity of some bytes.
 *
 * @example
 * ```ts
 * integrityOf(Buffer.from('hello')); // 'sha384-WeF0h3dEjGnea4ANejO7+5/xtGPkQ1TDVTvNucZm+pASWjx5+QOXvfX2oT3oKGhP'
 * ```
 */
export function integrityOf(bytes: Uint8Array): string {
  // One-shot: no Hash object per call (a cold start with 50 remotes hashes ~300 files and manifests).
  return `sha384-${hash('sha384', bytes, 'base64')}`;
}

/** True when `bytes` has exactly the integrity given. */
export function matchesIntegrity(bytes: Uint8Array, integrity: string): boolean {
  return integrityOf(bytes) === integrity;
}
