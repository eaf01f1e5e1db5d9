/**
 * Retries of one request to a remote: the runtime's backoff schedule (backoff.ts) between `baseDelay` and `maxDelay`,
 * `Retry-After` honoured (capped at `maxDelay`), and a budget — the import's deadline — that no wait or attempt may
 * overrun. Only failures that may pass are retried (failures.ts).
 */
import type { HttpStatusError } from '../../common/errors.ts';
import { backoffDelay } from './backoff.ts';
import { isRetryable } from './failures.ts';
import type { Interceptor } from './remote-client.ts';

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

/** The wait before retry number `attempt` (0-based): the server's `Retry-After` when it sent one, else the schedule. */
export function retryDelay(policy: RetryPolicy, attempt: number, retryAfterMs: number | undefined): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, policy.maxDelay);
  return backoffDelay({ base: policy.baseDelay, max: policy.maxDelay }, attempt);
}

/**
 * Runs `attempt(remainingMs)` until it succeeds, fails for good, or the budget ends. `deadlineAt` (a
 * `performance.now()` time) bounds everything: each attempt gets at most what is left, and a wait that would pass it
 * is not started — the last error is thrown instead.
 */
export async function withRetries<T>(
  policy: RetryPolicy,
  deadlineAt: number,
  attempt: (remainingMs: number) => Promise<T>,
): Promise<T> {
  for (let index = 0; ; index++) {
    try {
      return await attempt(deadlineAt - performance.now());
    } catch (error) {
      if (!isRetryable(error) || index + 1 >= policy.attempts) throw error;
      const wait = retryDelay(policy, index, (error as HttpStatusError).retryAfterMs);
      // An attempt that could not finish before the deadline would only turn a clear error into a timeout.
      if (performance.now() + wait + MIN_ATTEMPT_MS >= deadlineAt) throw error;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

/** Retries a request by the remote's policy within its deadline (one attempt for a request marked `once`). */
export function retry(): Interceptor {
  return (next) => (request) => {
    const policy = request.once ? { ...request.remote.retry, attempts: 1 } : request.remote.retry;
    const deadlineAt = request.deadlineAt ?? performance.now() + request.remote.timeouts.import;
    return withRetries(policy, deadlineAt, (remainingMs) => next({ ...request, remainingMs }));
  };
}
