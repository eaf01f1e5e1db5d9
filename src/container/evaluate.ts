/**
 * Turning verified bytes into modules inside a Module Federation host: node:vm `compileFunction` (never eval or
 * `new Function`), in the host's own context. Not a sandbox: the remote's code runs with the host's privileges.
 *
 * A ferry module (src/build/ferry-module.ts) is the body of an async function and gets the parameters ferry's host
 * gives it (src/runtime/evaluate/ferry-module.ts): `require`, `__ferryImport`/`__fImp`, `__ferryNamespace`,
 * `__ferryModuleMeta`, `__ferryMeta`, `__filename`, `__dirname`. The calling convention and the namespace helpers are
 * the host runtime's own (src/common/module-namespace.ts).
 */
import { commonJsNamespace, FERRY_MODULE_PARAMETERS, ferryModuleArguments } from '../common/module-namespace.ts';
import { builtin } from './builtins.ts';

/** `import.meta` as a module of the remote sees it. */
export interface ModuleMeta {
  url: string;
  filename: string | undefined;
  dirname: string | undefined;
  resolve(specifier: string): string;
}

/** What a ferry module is given. */
export interface FerryModuleContext {
  require(id: string): unknown;
  import(specifier: string): Promise<unknown>;
  moduleMeta(path: string): ModuleMeta;
  meta: ModuleMeta;
}

const COMMONJS_PARAMETERS = ['exports', 'require', 'module', '__filename', '__dirname'];

/** What `import` gives for a value: a module namespace as it is, anything else as Node imports CommonJS. */
export function namespaceOf(value: unknown): object {
  if (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[Symbol.toStringTag] === 'Module'
  ) {
    return value;
  }
  return commonJsNamespace(value);
}

function compile(source: string, parameters: string[], filename: string) {
  const { compileFunction } = builtin('node:vm');
  return compileFunction(source, parameters, { filename });
}

/** Compiles and runs a verified ferry module; resolves to its namespace once its body (top-level await too) ran. */
export function evaluateFerryModule(source: string, filename: string, context: FerryModuleContext): Promise<object> {
  const fn = compile(source, [...FERRY_MODULE_PARAMETERS], filename);
  return fn.call(undefined, ...ferryModuleArguments(context)) as Promise<object>;
}

/** Compiles and runs a verified CommonJS file (a shared package's fallback copy); returns its `module.exports`. */
export function evaluateCommonJs(source: string, filename: string, require: (id: string) => unknown): unknown {
  const module = { exports: {} as unknown };
  compile(source, COMMONJS_PARAMETERS, filename).call(module.exports, module.exports, require, module, filename, '.');
  return module.exports;
}
