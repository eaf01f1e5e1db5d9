/**
 * Content types for the files of a build output folder. A short fixed table instead of a MIME database: a build
 * output holds JavaScript, JSON (manifest, source maps, signature) and type declarations, and anything else is sent
 * as opaque bytes so that no browser or proxy ever guesses (`X-Content-Type-Options: nosniff` is always sent too).
 */

const JAVASCRIPT = 'text/javascript; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';
const TEXT = 'text/plain; charset=utf-8';
const BYTES = 'application/octet-stream';

// Checked in order; the first suffix that matches wins (`.d.ts` before anything shorter).
const BY_SUFFIX: ReadonlyArray<readonly [suffix: string, type: string]> = [
  ['.d.ts', TEXT],
  ['.js', JAVASCRIPT],
  ['.cjs', JAVASCRIPT],
  ['.mjs', JAVASCRIPT],
  ['.json', JSON_TYPE],
  ['.map', JSON_TYPE],
  // mf-manifest.json.sig is a small JSON document written by signManifest.
  ['.sig', JSON_TYPE],
];

/**
 * The `Content-Type` to send for a file of a build output folder.
 *
 * @example
 * ```ts
 * contentTypeOf('remoteEntry.js'); // 'text/javascript; charset=utf-8'
 * contentTypeOf('tokenValidator.ABCD1234.js.map'); // 'application/json; charset=utf-8'
 * ```
 */
export function contentTypeOf(name: string): string {
  for (const [suffix, type] of BY_SUFFIX) {
    if (name.endsWith(suffix)) return type;
  }
  return BYTES;
}
