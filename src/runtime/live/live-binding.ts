/**
 * A live binding to a remote module: an object whose properties are always those of the remote's CURRENT version.
 * A function read from it is a stable forwarder (`live.fn === live.fn`) that looks the function up in the current
 * version at each call, so a long-lived reference — an express middleware, a callback registered once — runs the new
 * code after a swap. A call runs entirely on the version it started on, and is counted so the old version is not
 * disposed while calls through live bindings are still running on it (up to the host's `live.drainTimeout`).
 * Other values (constants, objects) are read from the current version at each property access.
 */

/** The version a call runs on: its exports, and a way to count the call. */
export interface LiveTarget {
  exports: unknown;
  /** Marks a call as running on this version; the returned function marks it done (`failed`: it threw or rejected). */
  enter(): (failed?: boolean) => void;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

const record = (value: unknown): Record<PropertyKey, unknown> =>
  typeof value === 'object' || typeof value === 'function' ? ((value ?? {}) as Record<PropertyKey, unknown>) : {};

/**
 * Creates the live object for one specifier; `current()` returns the version calls go to now.
 */
export function createLiveBinding<T = Record<string, unknown>>(current: () => LiveTarget): T {
  const forwarders = new Map<PropertyKey, (...args: unknown[]) => unknown>();
  const forwarder = (key: PropertyKey) => {
    let fn = forwarders.get(key);
    if (fn) return fn;
    fn = function live(this: unknown, ...args: unknown[]): unknown {
      const target = current();
      const exports = record(target.exports);
      const value = exports[key];
      if (typeof value !== 'function') {
        throw new TypeError(`${String(key)} is no longer a function in the current version of this remote module.`);
      }
      const done = target.enter();
      let result: unknown;
      try {
        // `new live.Class()` constructs the current class; a method call keeps the module as `this`.
        result = new.target
          ? Reflect.construct(value, args)
          : Reflect.apply(value, this === proxy || this === undefined ? exports : this, args);
      } catch (error) {
        done(true);
        throw error;
      }
      if (isThenable(result)) {
        result.then(
          () => done(),
          () => done(true),
        );
      } else done();
      return result;
    };
    Object.defineProperty(fn, 'name', { value: String(typeof key === 'symbol' ? key.description : key) });
    forwarders.set(key, fn);
    return fn;
  };
  const proxy: T = new Proxy({} as Record<PropertyKey, unknown>, {
    get(_, key) {
      const value = record(current().exports)[key];
      return typeof value === 'function' ? forwarder(key) : value;
    },
    has: (_, key) => key in record(current().exports),
    ownKeys: () => Reflect.ownKeys(record(current().exports)),
    getOwnPropertyDescriptor(_, key) {
      const exports = record(current().exports);
      if (!Object.hasOwn(exports, key)) return undefined;
      const value = exports[key];
      return {
        value: typeof value === 'function' ? forwarder(key) : value,
        writable: false,
        enumerable: Object.prototype.propertyIsEnumerable.call(exports, key),
        configurable: true,
      };
    },
    set: () => false,
    defineProperty: () => false,
    deleteProperty: () => false,
  }) as T;
  return proxy;
}
