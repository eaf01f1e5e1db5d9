/**
 * Freeze protection: a manifest carries `ferry.expires`, set at build time (and covered by its signature), and a host
 * refuses it once that time has passed. Without an expiry, someone who can answer for the remote (a stale cache, a
 * captured response, a compromised mirror) could keep serving one correctly signed but outdated build forever and
 * hide every newer release from the host.
 */
import { ManifestExpiredError } from '../../common/errors.ts';
import type { Manifest } from '../../manifest/index.ts';

/**
 * Throws {@link ManifestExpiredError} when `manifest` expired at or before `now` (milliseconds since the epoch).
 */
export function checkNotExpired(manifest: Manifest, now: number, details: { remote: string; url: string }): void {
  const { expires, builtAt, version, release } = manifest.ferry;
  if (Date.parse(expires) > now) return;
  throw new ManifestExpiredError(
    `The manifest of remote "${details.remote}" at ${details.url} (version ${version}, release ${release}, built ` +
      `${builtAt}) expired at ${expires}; the host's clock says ${new Date(now).toISOString()}. An expired manifest ` +
      'is refused so an old build cannot be served forever. Rebuild the remote with `ferry build` (signed, with a ' +
      'new expiry; `expiresIn` in its ferry config sets how long a build stays valid) and deploy the new output.',
    { ...details, expires },
  );
}
