/**
 * What a failed request means, in one place: whether sending it again may succeed (retries), and whether it says the
 * remote is unavailable rather than wrong (the breaker, stale-if-error, a live update tried again later).
 */
import { CircuitOpenError, FerryError, HttpStatusError, NetworkError, TimeoutError } from '../../common/errors.ts';

/**
 * Whether a failed request may succeed when sent again: a refused or reset connection, a connect timeout, 408, 429 or
 * 5xx. Not an integrity or signature failure, another 4xx, or a remote that accepted the request and then stalled
 * (retrying would fetch the same wrong bytes or add load to a remote that is already slow).
 */
export function isRetryable(error: unknown): boolean {
  if (!(error instanceof FerryError)) return false;
  if (error instanceof NetworkError) return true;
  if (error instanceof TimeoutError) return (error as TimeoutError).phase === 'connect';
  if (error instanceof HttpStatusError) {
    const status = (error as HttpStatusError).status ?? 0;
    return status === 408 || status === 429 || status >= 500;
  }
  return false;
}

/**
 * Whether a failure says the remote is unavailable (down, slow, overloaded, or its breaker open), not that it
 * answered wrongly. Only these move the breaker towards open, and only these let a cached copy stand in. Remote code
 * that hangs while it initialises (a `TimeoutError` of phase `evaluation`) is not unavailability: the remote served
 * it, and it is the build that is at fault.
 */
export function isUnavailable(error: unknown): boolean {
  if (error instanceof TimeoutError) return (error as TimeoutError).phase !== 'evaluation';
  return isRetryable(error) || error instanceof CircuitOpenError;
}
