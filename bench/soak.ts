/**
 * Leak soak for live updates: publishes N successive versions of a remote whose code allocates about 1 MB, sets an
 * interval and adds a `process` listener, activates each one with host.update() and calls it through a live binding.
 * Heap after GC must stay flat: it fails (exit 1) when it grows by 5 MB or more from the baseline taken after the
 * first versions (V8's compilation cache keeps recent scripts for a while, so the baseline is not version 1).
 *
 * `--format esm` (the default) publishes ferry modules, as `ferry build` writes them (ES module output, evaluated as
 * async functions with top-level await); `--format commonjs` the CommonJS bundles of earlier builds.
 *
 * Run with `node --expose-gc --max-old-space-size=64 bench/soak.ts [--versions 500] [--format esm|commonjs]`
 * (`npm run soak`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createHost } from '../src/index.ts';
import { startLoopback } from '../test/helpers/loopback.ts';
import { writeRemoteOutput } from '../test/helpers/remote-output.ts';

const { values } = parseArgs({
  options: { versions: { type: 'string', default: '500' }, format: { type: 'string', default: 'esm' } },
});
const versions = Number(values.versions);
const format = values.format === 'commonjs' ? 'commonjs' : 'esm';
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  console.error('soak: run with --expose-gc (npm run soak does).');
  process.exit(2);
}

function code(i: number): string {
  if (format === 'esm') {
    return `return (async () => { "use strict";
const data = new Array(125000).fill(${i}.5); // about 1 MB of heap
setInterval(() => data[0]++, 1000);
process.on('ferry-soak', () => data.length);
await new Promise((resolve) => setTimeout(resolve, 1)); // top-level await
const version = () => ${i};
const sum = () => data.length;
return __ferryNamespace({ version: () => version, sum: () => sum }, []);
})();
`;
  }
  return `'use strict';
const data = new Array(125000).fill(${i}.5); // about 1 MB of heap
setInterval(() => data[0]++, 1000);
process.on('ferry-soak', () => data.length);
exports.version = () => ${i};
exports.sum = () => data.length;
`;
}

const dir = mkdtempSync(join(tmpdir(), 'ferry-soak-'));
const publish = (i: number) =>
  writeRemoteOutput(join(dir, 'remote'), {
    name: 'soak',
    version: `1.0.${i}`,
    release: i + 1,
    format,
    exposes: { './module': { code: code(i) } },
  });

const heapAfterGc = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
};

await publish(0);
const server = await startLoopback(join(dir, 'remote'));
const host = createHost({
  name: 'soakHost',
  remotes: { soak: `${server.url}mf-manifest.json` },
  cache: { dir: join(dir, '.cache') },
  live: { pollInterval: false, push: false, drainTimeout: 0 },
  onWarning: () => {},
});
const live = await host.live<{ version(): number }>('soak/module');
let baseline = 0;
let peak = 0;
const warmup = Math.min(20, Math.floor(versions / 3));
const started = performance.now();
for (let i = 1; i < versions; i++) {
  await publish(i);
  const [outcome] = await host.update('soak');
  if (outcome?.status !== 'activated' || live.version() !== i) {
    throw new Error(`version ${i} was not activated: ${outcome?.status} ${outcome?.error?.message ?? ''}`);
  }
  // Let the old version's disposal (after its drain) run.
  await new Promise((resolve) => setImmediate(resolve));
  if (i === warmup) baseline = heapAfterGc();
  if (i > warmup && i % 25 === 0) peak = Math.max(peak, heapAfterGc());
}
const final = heapAfterGc();
peak = Math.max(peak, final);
const growth = final - baseline;
const listeners = process.listenerCount('ferry-soak');
await host.close();
await server.close();
rmSync(dir, { recursive: true, force: true });
console.log(
  JSON.stringify({
    versions,
    format,
    seconds: Math.round((performance.now() - started) / 100) / 10,
    heapAfterGcMiB: { baseline: round(baseline), peak: round(peak), final: round(final), growth: round(growth) },
    processListenersLeft: listeners,
  }),
);
if (growth >= 5 || listeners > 1) {
  console.error(`soak: FAILED: heap grew ${round(growth)} MiB (limit 5), ${listeners} listeners left (limit 1).`);
  process.exit(1);
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
