/**
 * Turns a request URL into the name of a file in the build output folder, or says why it is not one.
 *
 * Only the raw path is looked at (the query string is ignored). It is decoded exactly once, so `%252e` stays the
 * literal text `%2e` and never becomes a dot. Encoded separators (`%2f`, `%5c`), backslashes and NUL are refused
 * before decoding so that no later step can turn them into path syntax, and the decoded name must pass
 * {@link isSafeFileName}: forward-slash relative, no `.` or `..` segments, no hidden files. The file system checks
 * (realpath inside the folder, regular file) happen in handler.ts.
 */
import { isSafeFileName } from '../manifest/index.ts';

/** The outcome of {@link fileNameFromUrl}. */
export type UrlResolution =
  /** A name that may be looked up in the folder. */
  | { kind: 'file'; name: string }
  /** Not under the prefix, or not a name this server ever serves: answer 404 (or let the app's routes try). */
  | { kind: 'not-found' }
  /** Malformed or hostile syntax (bad percent-encoding, encoded separators, NUL, backslash): answer 400. */
  | { kind: 'bad-request' };

// Percent-encoded `/`, `\` and NUL; and the raw backslash and NUL, which no build output name contains.
const FORBIDDEN_RAW = /%2f|%5c|%00|[\\\0]/i;

/**
 * Maps the request target to a file name relative to the served folder.
 *
 * @param url `req.url` as node:http gives it (`/federation/mf-manifest.json?x=1`); relative to the mount path
 *   under express.
 * @param prefix a path prefix without trailing slash (`/federation`), or `''`.
 * @example
 * ```ts
 * fileNameFromUrl('/federation/mf-manifest.json?t=1', '/federation'); // { kind: 'file', name: 'mf-manifest.json' }
 * fileNameFromUrl('/%2e%2e/package.json', ''); // { kind: 'not-found' }
 * fileNameFromUrl('/..%2fpackage.json', ''); // { kind: 'bad-request' }
 * ```
 */
export function fileNameFromUrl(url: string, prefix: string): UrlResolution {
  const queryAt = url.indexOf('?');
  const rawPath = queryAt === -1 ? url : url.slice(0, queryAt);
  // Absolute-form (`http://host/x`) and asterisk-form targets are for proxies, not for a file server.
  if (!rawPath.startsWith('/')) return { kind: 'bad-request' };
  if (FORBIDDEN_RAW.test(rawPath)) return { kind: 'bad-request' };
  let rest: string;
  if (prefix === '') {
    rest = rawPath.slice(1);
  } else if (rawPath.startsWith(`${prefix}/`)) {
    rest = rawPath.slice(prefix.length + 1);
  } else {
    return { kind: 'not-found' };
  }
  let name: string;
  try {
    name = decodeURIComponent(rest);
  } catch {
    return { kind: 'bad-request' };
  }
  // Decoding can produce characters the raw check could not see (`%5C` is caught above, but be explicit).
  if (name.includes('\0') || name.includes('\\')) return { kind: 'bad-request' };
  return isSafeFileName(name) ? { kind: 'file', name } : { kind: 'not-found' };
}
