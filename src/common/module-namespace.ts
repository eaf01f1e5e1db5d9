/**
 * The calling convention of a ferry module and ES module namespaces, shared by the two places that evaluate ferry
 * modules: ferry's host runtime (src/runtime/evaluate/ferry-module.ts) and the container runtime that runs in Module
 * Federation hosts (src/container/evaluate.ts). Imports nothing, so the container may bundle it.
 */

/**
 * The parameters of a ferry module's function body, in order (src/build/ferry-module.ts writes code that uses them):
 * `require` and `__filename`/`__dirname` for bundled CommonJS code, its imports (`__ferryImport`, and `__fImp` for
 * `import()`, the same function under a name as long as `import`), the namespace builder, the per-module
 * `import.meta` and the bundle's own `import.meta`.
 */
export const FERRY_MODULE_PARAMETERS: readonly string[] = [
  'require',
  '__ferryImport',
  '__fImp',
  '__ferryNamespace',
  '__ferryModuleMeta',
  '__ferryMeta',
  '__filename',
  '__dirname',
];

/** What a ferry module is called with, by whoever evaluates it (the host runtime, or the container runtime). */
export interface FerryModuleCall {
  require(id: string): unknown;
  /** Imports a module (static or dynamic) and resolves to its namespace. */
  import(specifier: string): Promise<unknown>;
  /** `import.meta` of the project module at `path`. */
  moduleMeta(path: string): unknown;
  /** `import.meta` of the bundle file itself (and its `__filename`, `__dirname`). */
  meta: { filename?: string | undefined; dirname?: string | undefined };
}

/**
 * What a ferry module's `__ferryNamespace` is: {@link createNamespace} (the export list of builds before the accessor
 * form: name -> a function reading the binding), with {@link namespaceOfAccessors} as its `accessors` property. A
 * module built since then checks for that property and hands its own export list over when it is there; on a host
 * without it (an older ferry) the module turns the list into the older form first (src/build/ferry-module.ts).
 */
const namespaceBuilder: typeof createNamespace & { accessors: typeof namespaceOfAccessors } = Object.assign(
  (exports: Record<string, () => unknown>, stars?: readonly unknown[]) => createNamespace(exports, stars),
  { accessors: namespaceOfAccessors },
);

/** The arguments for {@link FERRY_MODULE_PARAMETERS}, in their order. */
export function ferryModuleArguments(call: FerryModuleCall): unknown[] {
  return [
    call.require,
    call.import,
    call.import,
    namespaceBuilder,
    call.moduleMeta,
    call.meta,
    call.meta.filename,
    call.meta.dirname,
  ];
}

/**
 * A module namespace: its exports as read-only live getters (`exports`: name -> a function reading the binding),
 * then the names of `export *` namespaces that it does not export itself (never their `default`), as in ESM.
 */
export function createNamespace(exports: Record<string, () => unknown>, stars: readonly unknown[] = []): object {
  const namespace = Object.create(null) as Record<string | symbol, unknown>;
  // One descriptor object for every name (defineProperty reads it at the call): a module with thousands of exports
  // made thousands of descriptors and [name, getter] pairs, twice the time and all of it garbage (issue 21).
  const descriptor: PropertyDescriptor = { enumerable: true, get: undefined };
  for (const name of Object.keys(exports)) {
    descriptor.get = exports[name];
    Object.defineProperty(namespace, name, descriptor);
  }
  addStarExports(namespace, stars, descriptor);
  Object.defineProperty(namespace, Symbol.toStringTag, { value: 'Module' });
  return Object.preventExtensions(namespace);
}

/** Defines on `namespace` each name of the `export *` namespaces that it does not have itself, never `default`. */
function addStarExports(
  namespace: Record<string | symbol, unknown>,
  stars: readonly unknown[],
  descriptor: PropertyDescriptor = { enumerable: true, get: undefined },
): void {
  for (const star of stars) {
    if (typeof star !== 'object' || star === null) continue;
    for (const name of Object.keys(star)) {
      if (name === 'default' || Object.hasOwn(namespace, name)) continue;
      descriptor.get = () => (star as Record<string, unknown>)[name];
      Object.defineProperty(namespace, name, descriptor);
    }
  }
}

/**
 * A module namespace made from the module's own export list, as the build writes it: a null-prototype object literal
 * of getters (`{ __proto__: null, get "b"() { return a; } }`), then the names of `export *` namespaces it does not
 * export itself. The object itself becomes the namespace, frozen (non-configurable, not extensible, like ESM's): no
 * property is defined one by one, which for a module of thousands of exports was most of what building its namespace
 * cost (issue 21: ~17 ms for the 10 MB module of bench/scale.ts's bundle axis, ~0.5 ms now).
 */
export function namespaceOfAccessors(exports: object, stars: readonly unknown[] = []): object {
  const namespace = exports as Record<string | symbol, unknown>;
  if (Object.getPrototypeOf(namespace) !== null) Object.setPrototypeOf(namespace, null);
  if (stars.length > 0) addStarExports(namespace, stars);
  Object.defineProperty(namespace, Symbol.toStringTag, { value: 'Module' });
  return Object.freeze(namespace);
}

/**
 * The namespace of each CommonJS `module.exports` already imported: one per module, as Node makes one, so that a
 * shared package or a builtin imported by every file of every remote is not listed again for each (issue 21).
 */
const commonJsNamespaces = new WeakMap<object, object>();

/**
 * The namespace `import` gives for a CommonJS module: its own names, and `default`: `module.exports`, as in Node. The
 * same `module.exports` object gets the same namespace (its names as they were at its first import, as Node's are).
 */
export function commonJsNamespace(exports: unknown): object {
  // A module.exports that is not an object has no identity to keep, and no names: a namespace of its `default`.
  if ((typeof exports !== 'object' && typeof exports !== 'function') || exports === null) {
    return namespaceOfCommonJs(exports, []);
  }
  let namespace = commonJsNamespaces.get(exports);
  if (namespace === undefined) {
    namespace = namespaceOfCommonJs(exports, Object.keys(exports));
    commonJsNamespaces.set(exports, namespace);
  }
  return namespace;
}

/** A namespace of `exports`'s `names` (read live) and `default`: `exports` itself. */
function namespaceOfCommonJs(exports: unknown, names: string[]): object {
  // Null prototype: a dictionary from the start, not one hidden class per name added (issue 21).
  const getters = Object.create(null) as Record<string, () => unknown>;
  for (const name of names) {
    if (name !== 'default') getters[name] = () => (exports as Record<string, unknown>)[name];
  }
  getters['default'] = () => exports;
  return createNamespace(getters);
}
