/**
 * Evaluating a ferry module: ES module output that `ferry build` rewrote as the body of an async function (see
 * src/build/ferry-module.ts), compiled with node:vm `compileFunction` from the verified bytes, never with Node's ESM
 * loader — which keeps every module it loads for the life of the process, so replaced versions could never be freed
 * — and never with `vm.SourceTextModule`, which needs a flag. The body gets, as parameters: its imports
 * (`__ferryImport`, also `__fImp` for `import()`), a way to build its namespace, its per-module `import.meta`, the
 * bundle's own `import.meta`, `require` and `__filename`/`__dirname` for bundled CommonJS code, and the version's
 * tracked timers and `process`. It resolves to the module's namespace once its body (top-level await included) ran.
 */
import type { ScopedRequire } from './commonjs.ts';
import { compileUncached } from './compile-uncached.ts';
import { HOUSEKEEPING_PARAMETERS, type Housekeeping } from './housekeeping.ts';

/** `import.meta` as a module of a remote sees it. */
export interface ModuleMeta {
  url: string;
  filename: string;
  dirname: string;
  resolve(specifier: string): string;
}

/** What a ferry module is given. */
export interface FerryModuleContext {
  require: ScopedRequire;
  /** Imports a module (static or dynamic) and resolves to its namespace. */
  import(specifier: string): Promise<unknown>;
  /** `import.meta` of the project module at `path` (relative to the remote's project root). */
  moduleMeta(path: string): ModuleMeta;
  /** `import.meta` (and `__filename`, `__dirname`) of the bundle file itself, for code from node_modules. */
  meta: ModuleMeta;
  housekeeping?: Housekeeping;
}

const PARAMETERS = [
  'require',
  '__ferryImport',
  '__fImp',
  '__ferryNamespace',
  '__ferryModuleMeta',
  '__ferryMeta',
  '__filename',
  '__dirname',
];

/**
 * A module namespace: its exports as read-only live getters (`exports`: name -> a function reading the binding),
 * then the names of `export *` namespaces that it does not export itself (never their `default`), as in ESM.
 */
export function createNamespace(exports: Record<string, () => unknown>, stars: readonly unknown[] = []): object {
  const namespace = Object.create(null) as Record<string | symbol, unknown>;
  for (const [name, read] of Object.entries(exports)) {
    Object.defineProperty(namespace, name, { enumerable: true, get: read });
  }
  for (const star of stars) {
    if (typeof star !== 'object' || star === null) continue;
    for (const name of Object.keys(star)) {
      if (name === 'default' || Object.hasOwn(namespace, name)) continue;
      Object.defineProperty(namespace, name, { enumerable: true, get: () => (star as Record<string, unknown>)[name] });
    }
  }
  Object.defineProperty(namespace, Symbol.toStringTag, { value: 'Module' });
  return Object.preventExtensions(namespace);
}

/** The namespace `import` gives for a CommonJS module: its own names, and `default`: `module.exports`, as in Node. */
export function commonJsNamespace(exports: unknown): object {
  const names: Record<string, () => unknown> = {};
  if ((typeof exports === 'object' || typeof exports === 'function') && exports !== null) {
    for (const name of Object.keys(exports)) {
      if (name !== 'default') names[name] = () => (exports as Record<string, unknown>)[name];
    }
  }
  names['default'] = () => exports;
  return createNamespace(names);
}

/**
 * Compiles and runs one ferry module; resolves to its namespace. `source` must be exactly the verified bytes, decoded;
 * `filename` (`ferry://authService@1.0.0/x.js`) names it in stack traces.
 */
export function evaluateFerryModule(source: string, filename: string, context: FerryModuleContext): Promise<object> {
  const { housekeeping } = context;
  const fn = compileUncached(source, housekeeping ? [...PARAMETERS, ...HOUSEKEEPING_PARAMETERS] : PARAMETERS, {
    filename,
  });
  return fn.call(
    undefined,
    context.require,
    context.import,
    context.import,
    createNamespace,
    context.moduleMeta,
    context.meta,
    context.meta.filename,
    context.meta.dirname,
    ...(housekeeping?.values() ?? []),
  ) as Promise<object>;
}
