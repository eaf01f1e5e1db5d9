/**
 * The import's deadline travels with the import through AsyncLocalStorage, so every request an import causes (the
 * manifest, its signature, each file) gets at most what is left of it, however the load is shared between imports.
 * One store per host; a request made outside any import (a live-update check, the background refresh) runs under a
 * deadline of its own, started by its caller, or gets a whole import's time from now.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Interceptor } from './remote-client.ts';

export class Deadlines {
  readonly #store = new AsyncLocalStorage<number>();

  /** Runs `work` under a deadline (a `performance.now()` time) that every request and wait inside it respects. */
  run<T>(deadlineAt: number, work: () => Promise<T>): Promise<T> {
    return this.#store.run(deadlineAt, work);
  }

  /** The deadline of the work running now, if any. */
  current(): number | undefined {
    return this.#store.getStore();
  }

  /**
   * `work`, or a rejection with `timeout(ms)` when the deadline of the work running now (else `fallbackMs` from now)
   * passes first. For what no request deadline covers — remote code that initialises or evaluates — so that nothing
   * waits past the deadline; the work itself cannot be cancelled and is abandoned.
   */
  async within<T>(work: Promise<T>, fallbackMs: number, timeout: (ms: number) => Error): Promise<T> {
    const started = performance.now();
    const deadlineAt = this.current() ?? started + fallbackMs;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(timeout(Math.round(deadlineAt - started))), Math.max(0, deadlineAt - started));
    });
    try {
      return await Promise.race([work, expired]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Stamps each request with the deadline it runs under: the import's, else a whole import's time from now. */
export function deadline(deadlines: Deadlines): Interceptor {
  return (next) => (request) =>
    next({ ...request, deadlineAt: deadlines.current() ?? performance.now() + request.remote.timeouts.import });
}
