/**
 * Turns verified bytes into a CommonJS module with node:vm `compileFunction` — never `eval` or `new Function` — in the
 * host's own context. This controls which code runs, not what it can do: node:vm is not a sandbox, and remote code has
 * the host's privileges, like any installed dependency.
 */

import { compileUncached } from './compile-uncached.ts';
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

const PARAMETERS = ['exports', 'require', 'module', '__filename', '__dirname', '__ferryImport'];

/** What a file of a remote version gets besides its `require`. */
export interface CommonJsContext {
  /** Tracks the file's timers and `process` listeners (housekeeping.ts), cleared when its version is disposed. */
  housekeeping?: Housekeeping;
  /** `import()` of the version's modules, for a container that loads ferry modules (remote-entry.ts). */
  ferryImport?: (specifier: string) => Promise<unknown>;
  /** `__filename` and `__dirname` as the code should see them (default: derived from `filename`). */
  paths?: { filename: string; dirname: string };
}

/**
 * Compiles and runs one CommonJS file. `filename` appears in stack traces (`ferry://authService@1.0.0/x.js`). The
 * source must be exactly the bytes that were verified: callers decode the verified buffer and pass the result here.
 */
export function evaluateCommonJs(
  source: string,
  filename: string,
  require: ScopedRequire,
  context: CommonJsContext = {},
): ModuleRecord {
  const record: ModuleRecord = { id: filename, filename, exports: {}, loaded: false };
  const { housekeeping } = context;
  // With housekeeping, the timers and `process` are parameters too: the code's own references resolve to them.
  const fn = compileUncached(source, housekeeping ? [...PARAMETERS, ...HOUSEKEEPING_PARAMETERS] : PARAMETERS, {
    filename,
  });
  const paths = context.paths ?? { filename, dirname: filename.slice(0, filename.lastIndexOf('/')) };
  fn.call(
    record.exports,
    record.exports,
    require,
    record,
    paths.filename,
    paths.dirname,
    context.ferryImport,
    ...(housekeeping?.values() ?? []),
  );
  record.loaded = true;
  return record;
}
