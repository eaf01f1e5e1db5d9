/**
 * The first stage of a load: a specifier `<remote>/<expose>` becomes the remote's alias and the expose key
 * (`authService/tokenValidator` -> `authService`, `./tokenValidator`; `<remote>` alone is the expose `.`). Errors that
 * several imports share (one failed manifest load) are renamed here for the import that reports them.
 */
import { errorClasses, FerryError, InvalidSpecifierError } from '../common/errors.ts';
import type { ResolvedRemote } from './options/remote-options.ts';

const SPECIFIER = /^([A-Za-z_$][A-Za-z0-9_$]*)(?:\/(.+))?$/;

/** `authService/tokenValidator` -> the remote's alias and the expose key (`./tokenValidator`; `.` without a path). */
export function parseSpecifier(specifier: string): { alias: string; exposeKey: string } {
  const match = typeof specifier === 'string' ? SPECIFIER.exec(specifier) : null;
  if (!match) {
    throw new InvalidSpecifierError(
      `"${String(specifier)}" is not a remote module specifier; use "<remote>/<expose>", e.g. "authService/tokenValidator".`,
      { expose: String(specifier) },
    );
  }
  const [, alias, path] = match as unknown as [string, string, string | undefined];
  return { alias, exposeKey: path === undefined ? '.' : `./${path}` };
}

/**
 * Errors shared by concurrent imports (a manifest that failed to load) do not know which import they failed; the
 * caller gets an error of the same class and code that names its specifier, with the original as `cause`.
 */
export function nameTheImport(error: unknown, specifier: string, remote: ResolvedRemote): unknown {
  if (!(error instanceof FerryError) || error.expose !== undefined) return error;
  const ErrorClass = errorClasses[error.code] as (typeof errorClasses)[keyof typeof errorClasses] | undefined;
  // A code this copy of ferry does not know (another copy's error): pass it on untouched.
  if (ErrorClass === undefined) return error;
  // Every detail the original carries (including class-specific ones such as a RollbackError's releases) is kept.
  const details: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(error)) if (key !== 'code' && key !== 'name') details[key] = value;
  return new ErrorClass(`${error.message} (while importing "${specifier}")`, {
    ...details,
    remote: error.remote ?? remote.alias,
    url: error.url ?? remote.manifestUrl,
    expose: specifier,
    cause: error,
  });
}
