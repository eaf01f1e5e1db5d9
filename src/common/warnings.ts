/**
 * The warning catalogue: every warning a host reports, declared once with its stable code, as the error classes are
 * in errors.ts. A warning does not stop a load; it tells an operator about something that deserves attention.
 * docs/errors.md has one row per code (test/errors-catalogue.test.ts keeps the two in step, and checks that every
 * code here is reported somewhere in src/).
 */

/** Warning codes and, for each, the condition in one line (docs/errors.md says more and what to do). */
export const warningCodes = {
  FERRY_UNSIGNED_REMOTE: 'a remote is loaded without a pinned public key',
  FERRY_SHARED_NOT_INSTALLED: 'a package the host declares shared is not installed under its root',
  FERRY_SINGLETON_NOT_SHARED: 'a remote’s singleton is installed in the host but not in the host’s `shared`',
  FERRY_SHARED_VERSION_MISMATCH: 'a shared version outside a consumer’s range is used anyway',
  FERRY_CACHE_CORRUPT: 'the release record in the cache folder is not valid',
  FERRY_CACHE_UNREADABLE: 'the release record in the cache folder cannot be read',
  FERRY_CACHE_WRITE: 'the host cannot write its cache folder',
  FERRY_CACHE_INSECURE: 'the cache folder can be written by other users, or belongs to another user',
  FERRY_RELEASES_MISSING: 'the release record is gone from a cache folder that signed remotes used',
  FERRY_SOURCE_MAP: 'a remote’s source map cannot be read',
  FERRY_STALE_CACHE: 'a remote is unavailable and its cached copy is served',
  FERRY_CACHE_ENTRY_CORRUPT: 'a cached file no longer matches its hash and was deleted',
  FERRY_CACHE_PRUNE: 'pruning the disk cache stopped without removing anything uncertain',
  FERRY_FALLBACK_USED: 'a local fallback module answered for a remote',
  FERRY_LOCK_REFUSED: 'a running Module Federation remote serves a build that is not in the lock file',
  FERRY_UNPINNED_REMOTE: 'a Module Federation remote is loaded without a lock entry (`unpinned: true`)',
} as const;

/** A warning's stable code. */
export type WarningCode = keyof typeof warningCodes;

/** What a host reports: the code, the message (naming the input and the fix) and the remote it concerns. */
export interface FerryWarning {
  code: WarningCode;
  message: string;
  remote?: string;
}
