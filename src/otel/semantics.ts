/**
 * The names ferry's OpenTelemetry instrumentation uses: metric names and attribute keys under `ferry.` (no
 * OpenTelemetry semantic convention covers module federation), and the conventions' own `error.type` (set to the
 * ferry error code) and `url.full` where they apply. Durations are in seconds, as the conventions ask.
 */

/** Metric names. */
export const metricNames = {
  /** Histogram (s): `host.import()` durations, by remote, expose and `error.type` when it failed. */
  importDuration: 'ferry.import.duration',
  /** Counter: manifests and files refused by a verification check, by `ferry.verification.reason` (the error code). */
  verificationFailures: 'ferry.verification.failures',
  /** Counter: last verified copies served from the cache because the remote was unavailable. */
  staleServes: 'ferry.cache.stale_serves',
  /** Counter: live updates by `ferry.update.outcome` (`activated`, `refused`) and `ferry.update.reason`. */
  updateOutcomes: 'ferry.update.outcomes',
  /** Gauge: 1 for each remote's current circuit-breaker state (`ferry.breaker.state`), 0 for the other states. */
  breakerState: 'ferry.breaker.state',
  /** Gauge: the release number of each remote's active version (by host and remote). */
  activeRelease: 'ferry.remote.active_release',
  /** Gauge: 1 for each remote's active version (`ferry.remote.version`), 0 for the versions it replaced. */
  activeVersion: 'ferry.remote.active_version',
} as const;

/** Attribute keys. */
export const attributeNames = {
  host: 'ferry.host',
  remote: 'ferry.remote',
  expose: 'ferry.expose',
  version: 'ferry.remote.version',
  previousVersion: 'ferry.remote.previous_version',
  release: 'ferry.remote.release',
  /** Where the bytes came from: `network`, `cache` (confirmed by a 304), `stale` (remote unavailable). */
  source: 'ferry.copy.source',
  signed: 'ferry.manifest.signed',
  fallback: 'ferry.fallback',
  file: 'ferry.file',
  fileBytes: 'ferry.file.bytes',
  breakerState: 'ferry.breaker.state',
  verificationReason: 'ferry.verification.reason',
  updateTrigger: 'ferry.update.trigger',
  updateOutcome: 'ferry.update.outcome',
  updateReason: 'ferry.update.reason',
} as const;

/** The error codes that mean "the bytes did not verify" (counted by `ferry.verification.failures`). */
export const VERIFICATION_CODES: ReadonlySet<string> = new Set([
  'ERR_FERRY_SIGNATURE',
  'ERR_FERRY_INTEGRITY',
  'ERR_FERRY_ROLLBACK',
  'ERR_FERRY_MANIFEST_EXPIRED',
  'ERR_FERRY_MANIFEST_MISMATCH',
  'ERR_FERRY_INVALID_MANIFEST',
]);

/** `error.type`: a ferry error's stable code, else the error's class name, else `_OTHER` (the conventions' fallback). */
export function errorTypeOf(error: unknown): string {
  if (error !== null && typeof error === 'object') {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code.length > 0) return code;
    const name = (error as { name?: unknown }).name;
    if (typeof name === 'string' && name.length > 0) return name;
  }
  return '_OTHER';
}
