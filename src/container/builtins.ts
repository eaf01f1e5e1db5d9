/**
 * Node builtins for the container runtime: `process.getBuiltinModule` (Node >= 20.16 and 22.3), else the `require` the remote
 * entry was given (MF's Node loader and CommonJS both pass one; it resolves builtins whatever folder it resolves
 * from). Never a package: callers ask for builtins only.
 */
import { ContainerError } from '../common/errors.ts';

let entryRequire: ((id: string) => unknown) | undefined;

/** Keeps the remote entry's `require`, for Node versions without `process.getBuiltinModule`. */
export function useEntryRequire(require: unknown): void {
  if (typeof require === 'function') entryRequire = require as (id: string) => unknown;
}

/** The builtin module `id` (`node:vm`), as `process.getBuiltinModule` types it. */
export const builtin = ((id: string): unknown => {
  if (typeof process.getBuiltinModule === 'function') return process.getBuiltinModule(id);
  if (entryRequire) return entryRequire(id.startsWith('node:') ? id : `node:${id}`);
  throw new ContainerError(
    `A ferry container needs Node's builtin ${id}, and this process has neither process.getBuiltinModule (Node ` +
      '>= 20.16 or 22.3) nor a require() for its remote entry. Run the host on Node 20.16, 22.3 or later.',
  );
}) as typeof process.getBuiltinModule;

/** True for Node builtins (`fs`, `node:fs`, `node:test`). */
export function isBuiltin(id: string): boolean {
  return builtin('node:module').isBuiltin(id);
}
