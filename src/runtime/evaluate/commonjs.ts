/**
 * Turns verified bytes into a CommonJS module with node:vm `compileFunction` — never `eval` or `new Function` — in the
 * host's own context. This controls which code runs, not what it can do: node:vm is not a sandbox, and remote code has
 * the host's privileges, like any installed dependency.
 */
import { compileFunction } from 'node:vm';
import { HOUSEKEEPING_PARAMETERS, type Housekeeping } from './housekeeping.ts';

/** The `require` given to remote code; ferry builds one per file, scoped to builtins, shared packages and its remote. */
export type ScopedRequire = (id: string) => unknown;

/** A CommonJS module record, as the compiled code sees it. */
export interface ModuleRecord {
  id: string;
  filename: string;
  exports: unknown;
  loaded: boolean;
}

const PARAMETERS = ['exports', 'require', 'module', '__filename', '__dirname'];
// With housekeeping, the timers and `process` are parameters too: the code's own references resolve to them.
const TRACKED_PARAMETERS = [...PARAMETERS, ...HOUSEKEEPING_PARAMETERS];

/**
 * Compiles and runs one CommonJS file. `filename` appears in stack traces (`ferry://authService@1.0.0/x.js`). The
 * source must be exactly the bytes that were verified: callers decode the verified buffer and pass the result here.
 * With `housekeeping`, the file's timers and `process` listeners are tracked by it (housekeeping.ts) and cleared when
 * its version is disposed.
 */
export function evaluateCommonJs(
  source: string,
  filename: string,
  require: ScopedRequire,
  housekeeping?: Housekeeping,
): ModuleRecord {
  const record: ModuleRecord = { id: filename, filename, exports: {}, loaded: false };
  const fn = compileFunction(source, housekeeping ? TRACKED_PARAMETERS : PARAMETERS, { filename });
  const dirname = filename.slice(0, filename.lastIndexOf('/'));
  fn.call(record.exports, record.exports, require, record, filename, dirname, ...(housekeeping?.values() ?? []));
  record.loaded = true;
  return record;
}
