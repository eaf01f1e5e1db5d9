/**
 * The one backoff schedule of the runtime (design.md: capped exponential backoff with full jitter): the ceiling of
 * the wait before attempt `n` (0-based) grows as `base * 2^n` up to `max`, and the wait is drawn at random below it,
 * so many hosts retrying at once spread out instead of arriving together. Request retries, the background refresh of
 * a stale remote, reconnecting the push channel and trying a refused live-update build again all wait by it, each
 * with its own base and max.
 */

/** The bounds of one use of the schedule, in milliseconds. */
export interface BackoffBounds {
  /** The first ceiling. */
  base: number;
  /** The largest ceiling. */
  max: number;
}

/** The wait before attempt `attempt` (0-based): at random below `min(max, base * 2^attempt)`. */
export function backoffDelay(bounds: BackoffBounds, attempt: number): number {
  return Math.random() * Math.min(bounds.max, bounds.base * 2 ** Math.max(0, attempt));
}

/** The schedule with its attempt count, for a loop that keeps trying until something succeeds. */
export class Backoff {
  readonly #bounds: BackoffBounds;
  #attempt = 0;

  constructor(bounds: BackoffBounds) {
    this.#bounds = bounds;
  }

  /** Failures so far. */
  get attempts(): number {
    return this.#attempt;
  }

  /** The wait before the next try; counts a failure. */
  next(): number {
    return backoffDelay(this.#bounds, this.#attempt++);
  }

  /** Back to the first, shortest wait (after a success). */
  reset(): void {
    this.#attempt = 0;
  }
}
