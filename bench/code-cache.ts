/**
 * A V8 code cache for compiled remote code, as the benchmark measures it (bench/micro.ts): kept on disk under
 * `<cacheDir>/v8/`, a later process that compiles the same verified file hands V8 the cache and skips most of the
 * parse and compile. ferry's runtime does NOT use it: it was slower for the files a host compiles at start-up, and V8
 * accepts a cache made for other code of the same length (see below), which would undo the guarantee that only
 * verified bytes run. It is kept here so the benchmark can show the figure with and without it.
 *
 * - The slot is named after the verified file's integrity, the V8 version, the architecture and the compile
 *   parameters, so another build or another Node looks in another file.
 * - V8 checks the data it is given (its version, its flags and the source's length) and rejects what does not fit; a
 *   rejected, corrupt or unreadable cache only costs the compile it was meant to save, and a fresh cache replaces it.
 * - Writes are atomic (temporary file + rename, mode 0600 in a 0700 folder) and their failures are ignored.
 *
 * What it cannot do: V8 does not hash the source against the cache, so whoever can write the cache folder can make
 * the host run bytecode that is not the verified file. The host's disk cache is otherwise re-verified on every read,
 * so turn this on only where the cache folder is as trusted as the host's own code (see SECURITY.md).
 *
 * @example
 * ```ts
 * const slot = codeCacheSlot('/var/lib/user-service/ferry', 'sha384-…', ['exports', 'require']);
 * const fn = compileWithCodeCache(source, ['exports', 'require'], 'ferry://authService@1.0.0/x.js', slot);
 * ```
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { compileFunction } from 'node:vm';

/** Where one compiled file's code cache lives. */
export interface CodeCacheSlot {
  /** `<cacheDir>/v8/<name>.bin` */
  readonly path: string;
}

/** What happened to the cache on a compile: used as is, absent, or rejected by V8 (then replaced). */
export type CodeCacheOutcome = 'hit' | 'miss' | 'rejected';

const pending = new Set<Promise<void>>();

/**
 * The slot for the verified file with `integrity`, compiled with `parameters` by this process's V8.
 *
 * @example
 * ```ts
 * codeCacheSlot('/srv/.ferry-cache', 'sha384-…', ['exports']).path; // '/srv/.ferry-cache/v8/3f2a….bin'
 * ```
 */
export function codeCacheSlot(cacheDir: string, integrity: string, parameters: readonly string[]): CodeCacheSlot {
  const key = [integrity, process.versions.v8, process.arch, parameters.join(',')];
  const name = createHash('sha256').update(key.join('\n')).digest('hex').slice(0, 40);
  return { path: join(cacheDir, 'v8', `${name}.bin`) };
}

/**
 * `vm.compileFunction` with the slot's code cache: uses it when V8 accepts it, and writes a fresh one (in the
 * background) when there was none or V8 rejected it. `onOutcome` says which, for diagnostics and tests.
 *
 * @example
 * ```ts
 * const fn = compileWithCodeCache('return 1', [], 'ferry://r@1.0.0/a.js', slot);
 * ```
 */
export function compileWithCodeCache(
  source: string,
  parameters: string[],
  filename: string,
  slot: CodeCacheSlot,
  onOutcome?: (outcome: CodeCacheOutcome) => void,
): ReturnType<typeof compileFunction> {
  const cachedData = readSlot(slot);
  if (cachedData) {
    const fn = compileFunction(source, parameters, { filename, cachedData });
    if (!fn.cachedDataRejected) {
      onOutcome?.('hit');
      return fn;
    }
    onOutcome?.('rejected');
  } else {
    onOutcome?.('miss');
  }
  // produceCachedData serialises what this compile made; a rejected cache costs this one extra compile, once.
  const fn = compileFunction(source, parameters, { filename, produceCachedData: true });
  if (fn.cachedData) track(writeSlot(slot, fn.cachedData));
  return fn;
}

/** Resolves when every code cache write started so far has finished (or failed, which is ignored). */
export async function flushCodeCache(): Promise<void> {
  while (pending.size > 0) await Promise.all(pending);
}

function readSlot(slot: CodeCacheSlot): Buffer | undefined {
  try {
    const bytes = readFileSync(slot.path);
    return bytes.byteLength > 0 ? bytes : undefined;
  } catch {
    return undefined;
  }
}

async function writeSlot(slot: CodeCacheSlot, data: Buffer): Promise<void> {
  const temporary = `${slot.path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await mkdir(dirname(slot.path), { recursive: true, mode: 0o700 });
    await writeFile(temporary, data, { mode: 0o600 });
    await rename(temporary, slot.path);
  } catch {
    // A cache that cannot be written only means the next process compiles again.
    await rm(temporary, { force: true }).catch(() => {});
  }
}

function track(write: Promise<void>): void {
  pending.add(write);
  void write.finally(() => pending.delete(write));
}
