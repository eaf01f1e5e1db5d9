/**
 * A circuit breaker per remote. Closed: requests go through and consecutive failures are counted. After
 * `failureThreshold` of them in a row it opens: requests fail at once with {@link CircuitOpenError} (the remote is not
 * called) until `cooldown` has passed. Then it is half-open: one probe request goes through; its success closes the
 * breaker, its failure opens it for another cooling period. Only unavailability counts (refused, reset, timed out,
 * 408/429/5xx): a remote that answers with wrong bytes is up, and is refused by the integrity checks instead.
 */
import { CircuitOpenError, type FerryError } from '../../common/errors.ts';
import { isUnavailable } from './failures.ts';
import type { Interceptor } from './remote-client.ts';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerPolicy {
  /** Consecutive failures that open the breaker. */
  failureThreshold: number;
  /** How long it stays open before a probe, in milliseconds. */
  cooldown: number;
}

/** What the inspection API shows. */
export interface BreakerSnapshot {
  state: BreakerState;
  failures: number;
  /** When an open breaker lets a probe through (epoch ms). */
  retryAt?: number;
}

export class Breaker {
  readonly #policy: BreakerPolicy;
  readonly #onChange: (snapshot: BreakerSnapshot) => void;
  #state: BreakerState = 'closed';
  #failures = 0;
  #openedAt = 0;
  #probing = false;

  constructor(policy: BreakerPolicy, onChange: (snapshot: BreakerSnapshot) => void) {
    this.#policy = policy;
    this.#onChange = onChange;
  }

  snapshot(): BreakerSnapshot {
    return this.#state === 'closed'
      ? { state: this.#state, failures: this.#failures }
      : { state: this.#state, failures: this.#failures, retryAt: this.#openedAt + this.#policy.cooldown };
  }

  /** Lets a request through, or throws {@link CircuitOpenError}. Returns whether this request is the probe. */
  admit(remote: string, url?: string, lastFailure?: Error & { code?: string }): boolean {
    if (this.#state === 'closed') return false;
    const retryAt = this.#openedAt + this.#policy.cooldown;
    if (this.#state === 'open' && Date.now() >= retryAt) this.#set('half-open');
    if (this.#state === 'half-open' && !this.#probing) {
      this.#probing = true;
      return true;
    }
    const last = lastFailure
      ? ` The last failure: ${lastFailure.code ?? lastFailure.name}: ${lastFailure.message}`
      : '';
    throw new CircuitOpenError(
      `Remote "${remote}" is not called for now: its last ${this.#failures} requests failed, so its circuit breaker ` +
        `is open until ${new Date(retryAt).toISOString()} (then one probe request decides). A cached copy or a ` +
        `fallback is used where configured. Check the remote; tune \`breaker\` on the host if this trips too early.${last}`,
      { remote, url, retryAt: new Date(retryAt).toISOString(), cause: lastFailure },
    );
  }

  /** A request that was let through succeeded (the remote answered). */
  success(): void {
    this.#probing = false;
    this.#failures = 0;
    if (this.#state !== 'closed') this.#set('closed');
  }

  /** A request that was let through failed because the remote was unavailable. */
  failure(): void {
    this.#probing = false;
    this.#failures++;
    if (this.#state === 'half-open' || (this.#state === 'closed' && this.#failures >= this.#policy.failureThreshold)) {
      this.#openedAt = Date.now();
      this.#set('open');
    }
  }

  /** A request that was let through ended otherwise (the remote answered wrongly): the probe slot is freed. */
  settle(): void {
    this.#probing = false;
  }

  #set(state: BreakerState): void {
    this.#state = state;
    this.#onChange(this.snapshot());
  }
}

/**
 * Gates each request (with all its retries) through the remote's breaker: one failed request, however many attempts,
 * is one failure, and a probe is one request. A remote that answers, even wrongly, is up: only unavailability moves
 * the breaker towards open. The outcome is kept in the remote's state (`host.remotes()` shows the last failure).
 */
export function breaker(): Interceptor {
  return (next) => async (request) => {
    const { state } = request;
    state.breaker?.admit(request.remote.alias, request.url, state.lastFailure);
    try {
      const result = await next(request);
      state.breaker?.success();
      state.lastError = undefined;
      return result;
    } catch (error) {
      const failure = error as FerryError;
      state.lastError = { code: failure.code, message: failure.message, at: new Date().toISOString() };
      if (isUnavailable(error)) {
        state.lastFailure = failure;
        state.breaker?.failure();
      } else state.breaker?.success();
      throw error;
    }
  };
}
