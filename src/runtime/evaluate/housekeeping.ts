/**
 * What a remote version leaves running: the timers, intervals, immediates and `process` listeners its code creates.
 * Each compiled file of a version gets these wrappers as parameters (evaluate.ts), so `setInterval(...)` or
 * `process.on('exit', ...)` in remote code is tracked, and {@link Housekeeping.dispose} clears all of it when the
 * version is replaced. Without this, one leaked interval that closes over the module keeps the whole version (its
 * code and data) alive: 500 versions ran a 64 MB heap out of memory between versions 30 and 40 (design.md).
 *
 * This is housekeeping, not a sandbox: code that reaches `globalThis.setInterval` or `globalThis.process` escapes it.
 */

/** The parameter names remote code sees, in the order {@link Housekeeping.values} gives them. */
export const HOUSEKEEPING_PARAMETERS = [
  'setTimeout',
  'setInterval',
  'setImmediate',
  'clearTimeout',
  'clearInterval',
  'clearImmediate',
  'process',
] as const;

const LISTENER_METHODS = new Set(['on', 'addListener', 'once', 'prependListener', 'prependOnceListener']);
const REMOVE_METHODS = new Set(['off', 'removeListener']);

type Listener = (...args: unknown[]) => void;

/** The tracked globals of one version, and what it has left running. */
export class Housekeeping {
  readonly #timeouts = new Set<NodeJS.Timeout>();
  readonly #intervals = new Set<NodeJS.Timeout>();
  readonly #immediates = new Set<NodeJS.Immediate>();
  readonly #listeners: Array<{ event: string | symbol; listener: Listener }> = [];
  #disposed = false;
  #values: unknown[] | undefined;

  /** Timers, immediates and listeners still registered (for tests and diagnostics). */
  get active(): { timers: number; listeners: number } {
    return {
      timers: this.#timeouts.size + this.#intervals.size + this.#immediates.size,
      listeners: this.#listeners.length,
    };
  }

  /** The values of {@link HOUSEKEEPING_PARAMETERS}, made once per version. */
  values(): unknown[] {
    this.#values ??= this.#create();
    return this.#values;
  }

  /** Clears every timer, interval and immediate, and removes every `process` listener, the version created. */
  dispose(): void {
    this.#disposed = true;
    for (const timer of this.#timeouts) clearTimeout(timer);
    for (const timer of this.#intervals) clearInterval(timer);
    for (const immediate of this.#immediates) clearImmediate(immediate);
    for (const { event, listener } of this.#listeners) process.removeListener(event, listener);
    this.#timeouts.clear();
    this.#intervals.clear();
    this.#immediates.clear();
    this.#listeners.length = 0;
    this.#values = undefined;
  }

  #create(): unknown[] {
    const timeouts = this.#timeouts;
    const intervals = this.#intervals;
    const immediates = this.#immediates;
    // After disposal (old code still called through a direct reference) the real functions are used untracked:
    // the version is no longer managed, and tracking would only keep its timers in this set.
    const wrappedSetTimeout = (callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
      if (this.#disposed) return setTimeout(callback, ms, ...args);
      const timer = setTimeout(
        (...callArgs: unknown[]) => {
          timeouts.delete(timer);
          callback(...callArgs);
        },
        ms,
        ...args,
      );
      timeouts.add(timer);
      return timer;
    };
    const wrappedSetInterval = (callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
      const timer = setInterval(callback, ms, ...args);
      if (!this.#disposed) intervals.add(timer);
      return timer;
    };
    const wrappedSetImmediate = (callback: (...args: unknown[]) => void, ...args: unknown[]) => {
      if (this.#disposed) return setImmediate(callback, ...args);
      const immediate = setImmediate(
        (...callArgs: unknown[]) => {
          immediates.delete(immediate);
          callback(...callArgs);
        },
        ...args,
      );
      immediates.add(immediate);
      return immediate;
    };
    const wrappedClearTimeout = (timer: NodeJS.Timeout | undefined) => {
      if (timer !== undefined) timeouts.delete(timer);
      clearTimeout(timer);
    };
    const wrappedClearInterval = (timer: NodeJS.Timeout | undefined) => {
      if (timer !== undefined) intervals.delete(timer);
      clearInterval(timer);
    };
    const wrappedClearImmediate = (immediate: NodeJS.Immediate | undefined) => {
      if (immediate !== undefined) immediates.delete(immediate);
      clearImmediate(immediate);
    };
    return [
      wrappedSetTimeout,
      wrappedSetInterval,
      wrappedSetImmediate,
      wrappedClearTimeout,
      wrappedClearInterval,
      wrappedClearImmediate,
      this.#processProxy(),
    ];
  }

  /** `process`, with listener registration tracked; everything else is the real object's. */
  #processProxy(): NodeJS.Process {
    const listeners = this.#listeners;
    const bound = new Map<PropertyKey, unknown>();
    const proxy: NodeJS.Process = new Proxy(process, {
      get: (target, key) => {
        if (typeof key === 'string' && LISTENER_METHODS.has(key)) {
          return (event: string | symbol, listener: Listener) => {
            if (!this.#disposed) listeners.push({ event, listener });
            (target[key as 'on'] as (e: string | symbol, l: Listener) => unknown).call(target, event, listener);
            return proxy;
          };
        }
        if (typeof key === 'string' && REMOVE_METHODS.has(key)) {
          return (event: string | symbol, listener: Listener) => {
            const index = listeners.findIndex((entry) => entry.event === event && entry.listener === listener);
            if (index !== -1) listeners.splice(index, 1);
            target.removeListener(event, listener);
            return proxy;
          };
        }
        const value = Reflect.get(target, key, target);
        if (typeof value !== 'function') return value;
        // Methods run on the real process (some read internal slots); bound once so `process.x === process.x`.
        if (!bound.has(key)) bound.set(key, (value as (...args: unknown[]) => unknown).bind(target));
        return bound.get(key);
      },
    });
    return proxy;
  }
}
