/**
 * Loaded with `--import` into a ferry host for the instrumented runs only (never into the timed cold starts):
 * times every node:vm `compileFunction` call and collects ferry's diagnostics channels, then prints one line
 * `ferry-bench-instrument {json}` to stderr when the import ends. The bench reads it to say which share of the
 * cold start is compiling remote code (what a V8 code cache could save) and which is fetching.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { syncBuiltinESMExports } from 'node:module';
import vm from 'node:vm';

const processStart = performance.timeOrigin;
const compile: { filename: string; ms: number }[] = [];
const fetches: { url: string; bytes: number; durationMs: number }[] = [];
const original = vm.compileFunction;
vm.compileFunction = ((code: string, params?: string[], options?: vm.CompileFunctionOptions) => {
  const started = performance.now();
  try {
    return original(code, params, options);
  } finally {
    compile.push({ filename: String(options?.filename ?? ''), ms: performance.now() - started });
  }
}) as typeof vm.compileFunction;
// ESM `import { compileFunction } from 'node:vm'` sees the wrapper only after this.
syncBuiltinESMExports();

diagnosticsChannel.subscribe('ferry:fetch', (message) => {
  const { url, bytes, durationMs } = message as { url: string; bytes: number; durationMs: number };
  fetches.push({ url, bytes, durationMs });
});
diagnosticsChannel.subscribe('ferry:import:end', (message) => {
  const { durationMs } = message as { durationMs: number };
  const report = { importMs: durationMs, importEndAtMs: performance.now(), processStart, compile, fetches };
  process.stderr.write(`ferry-bench-instrument ${JSON.stringify(report)}\n`);
});
