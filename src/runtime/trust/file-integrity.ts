/**
 * A file of a release is run only when its bytes are exactly what the accepted manifest lists: the same size and the
 * same `sha384-` integrity. This is the one place that decides it, for every file the host fetches.
 */
import { IntegrityError } from '../../common/errors.ts';
import { type FileEntry, integrityOf } from '../../manifest/index.ts';

/** Throws {@link IntegrityError} unless `bytes` match `entry` (file `name` of remote `remote`, fetched from `url`). */
export function checkFileIntegrity(
  bytes: Uint8Array,
  entry: FileEntry,
  where: { remote: string; url: string; file: string },
): void {
  const actual = integrityOf(bytes);
  if (bytes.byteLength === entry.size && actual === entry.integrity) return;
  throw new IntegrityError(
    `File ${where.file} of remote "${where.remote}" at ${where.url} does not match its manifest (expected ` +
      `${entry.size} bytes with ${entry.integrity}, got ${bytes.byteLength} bytes with ${actual}); it was not run. ` +
      'The file was changed after the build or the manifest and files come from different builds: redeploy the ' +
      'whole `ferry build` output folder.',
    where,
  );
}
