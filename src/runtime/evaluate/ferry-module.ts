/**
 * Evaluating a ferry module: ES module output that `ferry build` rewrote as the body of an async function (see
 * src/build/ferry-module.ts), compiled with node:vm `compileFunction` from the verified bytes, never with Node's ESM
 * loader — which keeps every module it loads for the life of the process, so replaced versions could never be freed
 * — and never with `vm.SourceTextModule`, which needs a flag. The body gets, as parameters: its imports
 * (`__ferryImport`, also `__fImp` for `import()`), a way to build its namespace, its per-module `import.meta`, the
 * bundle's own `import.meta`, `require` and `__filename`/`__dirname` for bundled CommonJS code, and the version's
 * tracked timers and `process`. It resolves to the module's namespace once its body (top-level await included) ran.
 */
import { FERRY_MODULE_PARAMETERS, ferryModuleArguments } from '../../common/module-namespace.ts';
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

/**
 * Compiles one ferry module, running none of its code (the host compiles while the module's file is written to the
 * cache): the function returned runs it with `context`, whose `housekeeping` must be the one given here, and
 * resolves to its namespace. `source` must be exactly the verified bytes, decoded; `filename`
 * (`ferry://authService@1.0.0/x.js`) names it in stack traces.
 */
export function compileFerryModule(
  source: string,
  filename: string,
  housekeeping: Housekeeping | undefined,
): (context: FerryModuleContext) => Promise<object> {
  const fn = compileUncached(
    source,
    housekeeping ? [...FERRY_MODULE_PARAMETERS, ...HOUSEKEEPING_PARAMETERS] : [...FERRY_MODULE_PARAMETERS],
    { filename },
  );
  return (context) =>
    fn.call(undefined, ...ferryModuleArguments(context), ...(housekeeping?.values() ?? [])) as Promise<object>;
}
