/**
 * Checks of the host's cache folder when the host starts. Everything in it is checked again when read (hashes,
 * signatures), but the release record (`releases.json`) is the memory of rollback protection: whoever can write the
 * folder can reset it. So a folder that others can write is worth a warning, and so is a release record that is gone
 * while the folder still holds what signed remotes left there (someone deleted it, or a disk was restored).
 */
import { type Dirent, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Warn } from '../warnings.ts';
import { readRegularFileSync } from './regular-file.ts';

/** Warns (`FERRY_CACHE_INSECURE`) when the cache folder can be written by other users or belongs to another user. */
export function checkCacheFolder(dir: string, warn: Warn): void {
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(dir);
  } catch {
    return; // not created yet: the host creates it with mode 0700
  }
  const uid = process.getuid?.();
  const others = (stat.mode & 0o002) !== 0 ? 'can be written by every user' : undefined;
  const owner =
    uid !== undefined && stat.uid !== uid ? `belongs to user ${stat.uid}, not to this host's (${uid})` : undefined;
  if (others === undefined && owner === undefined) return;
  warn(
    'FERRY_CACHE_INSECURE',
    `The host's cache folder ${dir} ${[others, owner].filter(Boolean).join(' and ')}. Whoever can write it can reset ` +
      "the host's rollback protection (releases.json) and fill it; every cached file is still checked before use. " +
      "Make it a folder only the host's user can write (chmod 700, owned by that user).",
  );
}

/**
 * Whether the folder holds the cache record of a signed remote (one with a `signature`): a host that accepted a signed
 * release wrote `releases.json` beside it, so its absence means the record of releases was lost.
 */
export function hasSignedRecords(dir: string): boolean {
  let entries: Dirent[];
  try {
    entries = readdirSync(join(dir, 'remotes'), { withFileTypes: true });
  } catch {
    return false;
  }
  return entries.some((entry) => {
    if (!entry.isFile() || !entry.name.endsWith('.json')) return false;
    try {
      // Only when releases.json is missing. A record holds its manifest (format 2): at most a few MiB.
      const record = JSON.parse(readRegularFileSync(join(dir, 'remotes', entry.name), 16 << 20).toString('utf8'));
      // Format 1 names the signature by integrity; format 2 holds it ({ integrity, base64 }).
      return typeof record?.signature === 'string' || typeof record?.signature?.integrity === 'string';
    } catch {
      return false;
    }
  });
}
