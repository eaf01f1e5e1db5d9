/**
 * `vm.compileFunction` without V8's compilation cache. V8 keeps every script it compiled in a per-isolate table
 * keyed by its source, and a plain full GC does not empty it (only a memory-pressure GC near the heap limit does): a
 * host that swaps versions keeps the source text and compiled functions of every version it ever ran — measured
 * (bench/scale.ts, uptime) at ~0.7 MiB of heap per swap of a 200 KB remote, 15 -> 291 MiB over 400 swaps. A
 * remote's files are compiled once per version (each version's bytes differ), so the cache never saves a compile
 * here; it only keeps dead versions alive. The flag is turned off around the one synchronous compile and back on
 * right after (no other JavaScript runs in between), unless the process was started with it off.
 */
import { setFlagsFromString } from 'node:v8';
import { compileFunction } from 'node:vm';

const startedWithoutCache = [...process.execArgv, ...(process.env['NODE_OPTIONS'] ?? '').split(/\s+/)].includes(
  '--no-compilation-cache',
);

/** `vm.compileFunction(source, params, options)`, leaving nothing in V8's compilation cache. */
export function compileUncached(
  source: string,
  params: string[],
  options: Parameters<typeof compileFunction>[2],
): ReturnType<typeof compileFunction> {
  if (startedWithoutCache) return compileFunction(source, params, options);
  setFlagsFromString('--no-compilation-cache');
  try {
    return compileFunction(source, params, options);
  } finally {
    setFlagsFromString('--compilation-cache');
  }
}
