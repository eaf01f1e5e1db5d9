/**
 * Stale-if-error: when a remote is unavailable, the host serves the last copy it verified from its disk cache (after
 * the same checks as a fresh one), says so once (`FERRY_STALE_CACHE`, and `stale` on `ferry:cache`), and keeps asking
 * the remote in the background with conditional requests until it answers. When it does — whichever request gets
 * there first, the refresh, a live-update check or an import — `revalidated` (the same manifest) or `refreshed`
 * (another one) is published. The state lives in the remote's record (`record.stale`).
 */
import type { FerryError } from '../../common/errors.ts';
import { inBackground } from '../background.ts';
import { channels } from '../channels.ts';
import type { Deadlines } from '../net/deadline.ts';
import type { RemoteRecord } from '../remotes.ts';
import type { Warn } from '../warnings.ts';

/** The version and manifest integrity of a copy. */
export interface ServedCopy {
  version: string;
  integrity: string;
}

export class StaleIfErrorPolicy {
  readonly #host: string;
  readonly #warn: Warn;
  readonly #deadlines: Deadlines;
  #closed = false;

  constructor(host: string, warn: Warn, deadlines: Deadlines) {
    this.#host = host;
    this.#warn = warn;
    this.#deadlines = deadlines;
  }

  /**
   * The remote is unavailable and its cached copy (`served`, last fetched at `fetchedAt`) is served: say so, and
   * schedule `refresh` (one conditional request) until the remote answers.
   */
  servedStale(
    record: RemoteRecord,
    served: ServedCopy,
    fetchedAt: number,
    error: FerryError,
    refresh: () => Promise<unknown>,
  ): void {
    const { stale, alias } = record;
    const url = record.options.manifestUrl;
    const firstTime = stale.source !== 'cache';
    stale.source = 'cache';
    stale.cachedAt = fetchedAt;
    stale.integrity = served.integrity;
    const ageMs = Math.max(0, Date.now() - fetchedAt);
    channels.cache.publish({
      host: this.#host,
      remote: alias,
      event: 'stale',
      url,
      version: served.version,
      ageMs,
      error,
    });
    if (firstTime) {
      this.#warn(
        'FERRY_STALE_CACHE',
        `Remote "${alias}" is unavailable (${error.code}: ${error.message.split('. ')[0]}); serving version ` +
          `${served.version} from the host's cache, verified when the remote last served it ${formatAge(ageMs)} ago ` +
          `(${new Date(fetchedAt).toISOString()}). The host keeps checking the remote in the background.`,
        alias,
      );
    }
    this.#scheduleRefresh(record, refresh);
  }

  /**
   * The remote served or confirmed its manifest (`served`): it is live again. When the host was serving the cached
   * copy, publishes `revalidated` (the same manifest) or `refreshed` (another one).
   */
  backOnline(record: RemoteRecord, served: ServedCopy): void {
    const { stale } = record;
    const wasStale = stale.source === 'cache';
    const changed = served.integrity !== stale.integrity;
    // cachedAt stays: the event reports how old the copy that was served had become.
    const ageMs = stale.cachedAt === undefined ? 0 : Math.max(0, Date.now() - stale.cachedAt);
    stale.source = 'network';
    stale.integrity = undefined;
    stale.refreshBackoff.reset();
    clearTimeout(stale.refreshTimer);
    stale.refreshTimer = undefined;
    if (!wasStale) return;
    channels.cache.publish({
      host: this.#host,
      remote: record.alias,
      event: changed ? 'refreshed' : 'revalidated',
      url: record.options.manifestUrl,
      version: served.version,
      ageMs,
    });
  }

  /** No refresh is scheduled after this (the records' timers are stopped by the host). */
  close(): void {
    this.#closed = true;
  }

  #scheduleRefresh(record: RemoteRecord, refresh: () => Promise<unknown>): void {
    const { stale } = record;
    if (this.#closed || stale.refreshTimer !== undefined) return;
    const retryAt = record.breaker?.snapshot().retryAt;
    const wait = Math.max(retryAt === undefined ? 0 : retryAt - Date.now(), stale.refreshBackoff.next());
    // In the background context (background.ts): not inside the import that found the remote down.
    stale.refreshTimer = inBackground(() =>
      setTimeout(() => {
        stale.refreshTimer = undefined;
        // The refresh reports its own outcome (backOnline / servedStale, which schedules the next one).
        this.#deadlines.run(performance.now() + record.options.timeouts.import, refresh).catch(() => {
          if (stale.source === 'cache') this.#scheduleRefresh(record, refresh);
        });
      }, wait),
    );
    stale.refreshTimer.unref();
  }
}

/** `3 h 12 min`, `4 min 2 s`, `800 ms`. */
export function formatAge(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}
