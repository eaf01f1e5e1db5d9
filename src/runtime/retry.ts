/**
 * Retries for requests to a remote: capped exponential backoff with full jitter (a random wait between 0 and
 * `min(maxDelay, baseDelay * 2^attempt)`, so many hosts retrying at once spread out), `Retry-After` honoured, and a
 * budget (the import's deadline) that no wait or attempt may overrun. Only failures that may pass are retried: a
 * refused or reset connection, a connect timeout, 408, 429 and 5xx. An integrity or signature failure, any other 4xx,
 * or a remote that accepted the request and then stalled (its headers or body deadline passed) is not: retrying would
 * fetch the same wrong bytes or add load to a remote that is already slow.
 */
import { FerryError, HttpStatusError, NetworkError, TimeoutError } from '../common/errors.ts';

/** How a remote's requests are retried. */
export interface RetryPolicy {
  /** Attempts in all, the first included (1 = no retries). */
  attempts: number;
  /** The first backoff ceiling, in milliseconds. */
  baseDelay: number;
  /** The largest backoff ceiling, in milliseconds (also caps what `Retry-After` may ask for). */
  maxDelay: number;
}

/** The least time worth starting another attempt with. */
const MIN_ATTEMPT_MS = 50;

/**
 * Whether a failed request may succeed when sent again.
 *
 * @example
 * ```ts
 * isRetryable(new HttpStatusError('busy', { status: 503 })); // true
 * isRetryable(new IntegrityError('bytes differ')); // false
 * ```
 */
export function isRetryable(error: unknown): boolean {
  if (error instanceof NetworkError) return true;
  if (error instanceof TimeoutError) return (error as TimeoutError).phase === 'connect';
  if (error instanceof HttpStatusError) {
    const status = (error as HttpStatusError).status ?? 0;
    return status === 408 || status === 429 || status >= 500;
  }
  return false;
}

/** Whether a failure says the remote is unavailable (for the breaker and stale-if-error), not that it is wrong. */
export function isUnavailable(error: unknown): boolean {
  return isRetryable(error) || error instanceof TimeoutError;
}

/**
 * The wait before retry number `attempt` (0-based): full jitter under the capped exponential ceiling, or the
 * server's `Retry-After` when it sent one (capped at `maxDelay`).
 *
 * @example
 * ```ts
 * backoff({ attempts: 3, baseDelay: 100, maxDelay: 2000 }, 2, undefined); // a random delay in [0, 400)
 * ```
 */
export function backoff(policy: RetryPolicy, attempt: number, retryAfterMs: number | undefined): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, policy.maxDelay);
  return Math.random() * Math.min(policy.maxDelay, policy.baseDelay * 2 ** attempt);
}

/**
 * Runs `attempt(timeoutMs)` until it succeeds, fails for good, or the budget ends. `deadlineAt` (a `performance.now()`
 * time) bounds everything: each attempt gets at most what is left, and a wait that would pass it is not started —
 * the last error is thrown instead.
 *
 * @example
 * ```ts
 * const bytes = await withRetries(policy, performance.now() + 15_000, (ms) => fetchBytes(url, { ...options, timeout: ms }));
 * ```
 */
export async function withRetries<T>(
  policy: RetryPolicy,
  deadlineAt: number,
  attempt: (remainingMs: number) => Promise<T>,
  onRetry?: (error: unknown, waitMs: number) => void,
): Promise<T> {
  for (let index = 0; ; index++) {
    try {
      return await attempt(deadlineAt - performance.now());
    } catch (error) {
      if (!(error instanceof FerryError) || !isRetryable(error) || index + 1 >= policy.attempts) throw error;
      const wait = backoff(policy, index, (error as HttpStatusError).retryAfterMs);
      // An attempt that could not finish before the deadline would only turn a clear error into a timeout.
      if (performance.now() + wait + MIN_ATTEMPT_MS >= deadlineAt) throw error;
      onRetry?.(error, wait);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}
