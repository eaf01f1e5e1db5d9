/**
 * esbuild, imported on first use. It is an optional dependency of ferry: hosts never load it, and a host's install
 * can leave it out (`npm install --omit=optional`). Building without it fails with a BuildError that says how to
 * install it, not with Node's "Cannot find package" from inside a chunk.
 */
import type * as Esbuild from 'esbuild';
import { BuildError } from '../common/errors.ts';

let loading: Promise<typeof Esbuild> | undefined;

function isMissingEsbuild(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return code === 'ERR_MODULE_NOT_FOUND' && typeof message === 'string' && message.includes("'esbuild'");
}

/**
 * esbuild's API, loaded once. Throws {@link BuildError} when esbuild is not installed.
 *
 * @example
 * ```ts
 * const { build } = await loadEsbuild();
 * ```
 */
export function loadEsbuild(): Promise<typeof Esbuild> {
  loading ??= import('esbuild').catch((cause: unknown) => {
    loading = undefined;
    if (!isMissingEsbuild(cause)) throw cause;
    throw new BuildError(
      'ferry build needs esbuild, which is not installed here: it is an optional dependency of ferry, left out by ' +
        "`npm install --omit=optional` (or by a failed install on this platform). Install it in the remote's " +
        'project: npm install --save-dev esbuild',
      { cause },
    );
  });
  return loading;
}
