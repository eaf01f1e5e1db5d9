/**
 * Work the host starts on its own — live-update polls and push checks, their retries, the background refresh of a
 * remote served from the cache, cache pruning — runs in one context of its own, not in the context of whatever
 * scheduled it.
 *
 * A timer carries the async context it was created in (every AsyncLocalStorage store: an import's deadline, the
 * OpenTelemetry context, an app's request context). The watcher of a remote is started by the import that first
 * loads it, so without this every poll, for as long as the host runs, would run inside that import: under its long-past
 * deadline, and as one more child span of the request that happened to make it. The context used instead is the one
 * this module was loaded in (ferry's first import: at an app's start, no request, no span).
 */
import { AsyncResource } from 'node:async_hooks';

const scope = new AsyncResource('FERRY_BACKGROUND');

/** Runs `work` now, in the host's background context (see above); timers it creates keep that context. */
export function inBackground<T>(work: () => T): T {
  return scope.runInAsyncScope(work);
}
