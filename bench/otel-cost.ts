/**
 * What ferry's OpenTelemetry instrumentation costs the benchmark's ferry host (issue 19): cold start to the first 200
 * on /profile and requests per second, paired within each run (the order rotating), in three modes: `off` (the plain
 * host), `sdk` (the OpenTelemetry SDK set up by bench/otel-register.ts — context manager, tracer and meter providers,
 * batching, exporters that drop — without ferry's instrumentation) and `on` (the same with `FerryInstrumentation`).
 * `on ÷ sdk` is what ferry's instrumentation adds; `sdk ÷ off` is the SDK's own price. Writes
 * bench/results/otel-cost.json and .md.
 *
 * @example
 * ```sh
 * npm run build && node bench/otel-cost.ts --runs 7 --duration 5
 * ```
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type HostCommand, measureRps, startHost } from './host-process.ts';
import { ferryHandler, startCountingServer } from './remote-server.ts';
import { BENCH, BENCH_MODULES, createLayout, REPO } from './setup.ts';
import { ratio, type Summary, summarize } from './stats.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '7' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '10' },
  },
});
const runs = Number(values.runs);
const seconds = Number(values.duration);
const connections = Number(values.connections);
const AUTOCANNON_CLI = join(BENCH_MODULES, 'autocannon', 'autocannon.js');
const log = (line: string) => console.log(`[otel-cost] ${line}`);

type Mode = 'off' | 'sdk' | 'on';
const MODES: Mode[] = ['off', 'sdk', 'on'];

const layout = await createLayout();
execFileSync(process.execPath, [join(REPO, 'bin', 'ferry.js'), 'build'], { cwd: layout.ferryRemote, stdio: 'ignore' });
const remote = await startCountingServer(ferryHandler(join(layout.ferryRemote, 'dist', 'federation')));
let caches = 0;
const command = (mode: Mode): HostCommand => ({
  command: [...(mode === 'off' ? [] : ['--import', join(BENCH, 'otel-register.ts')]), 'server.js'],
  cwd: layout.ferryHost,
  token: layout.token,
  env: {
    USER_SERVICE_PORT: '0',
    AUTH_SERVICE_URL: `http://127.0.0.1:${remote.port}`,
    FERRY_AUTH_PUBLIC_KEY: layout.ferryPublicKey,
    FERRY_CACHE_DIR: join(layout.root, 'otel-cache', `${++caches}`),
    FERRY_BENCH_OTEL: mode,
  },
});

const samples: Record<Mode, { coldStartMs: number; rps: number }[]> = { off: [], sdk: [], on: [] };
try {
  for (let i = 0; i < runs; i++) {
    const order = MODES.map((_, k) => MODES[(k + i) % MODES.length]!);
    for (const mode of order) {
      const host = await startHost(command(mode));
      try {
        const load = await measureRps(AUTOCANNON_CLI, host.url, layout.token, seconds, connections);
        if (load.non2xx > 0 || load.errors > 0) {
          throw new Error(`${mode}: ${load.non2xx} non-2xx answers, ${load.errors} errors`);
        }
        samples[mode].push({ coldStartMs: host.coldStartMs, rps: load.rps });
        log(
          `run ${i + 1}/${runs} ${mode}: first 200 after ${host.coldStartMs.toFixed(0)} ms, ${load.rps.toFixed(0)} req/s`,
        );
      } finally {
        await host.stop();
      }
    }
  }
} finally {
  await remote.stop();
  rmSync(layout.root, { recursive: true, force: true });
}

type Key = 'coldStartMs' | 'rps';
const paired = (key: Key, over: Mode, base: Mode): Summary =>
  summarize(samples[over].map((sample, i) => ratio(sample[key], samples[base][i]![key])!));
const figure = (key: Key) => ({
  off: summarize(samples.off.map((sample) => sample[key])),
  sdk: summarize(samples.sdk.map((sample) => sample[key])),
  on: summarize(samples.on.map((sample) => sample[key])),
  onOverSdk: paired(key, 'on', 'sdk'),
  sdkOverOff: paired(key, 'sdk', 'off'),
  onOverOff: paired(key, 'on', 'off'),
});
const result = {
  generatedAt: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, loadavgAtEnd: loadavg() },
  runs,
  seconds,
  connections,
  coldStartMs: figure('coldStartMs'),
  rps: figure('rps'),
  samples,
};
const fmt = (s: Summary, digits = 0) =>
  `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
const row = (name: string, key: Key) => {
  const f = result[key];
  return (
    `| ${name} | ${fmt(f.off)} | ${fmt(f.sdk)} | ${fmt(f.on)} | ${fmt(f.onOverSdk, 3)} | ${fmt(f.sdkOverOff, 3)} | ` +
    `${fmt(f.onOverOff, 3)} |`
  );
};
const markdown = [
  '# What FerryInstrumentation costs the benchmark host',
  '',
  `${result.generatedAt} · ${result.machine.cpus} cores · Node ${result.machine.node} · load average at end ` +
    `${result.machine.loadavgAtEnd.map((n) => n.toFixed(2)).join(' / ')} · ${runs} runs, order rotating · ` +
    `autocannon ${seconds} s × ${connections} connections on GET /profile`,
  '',
  '| figure | off | SDK only | SDK + FerryInstrumentation | ferry: on ÷ SDK only | the SDK: SDK only ÷ off | on ÷ off |',
  '|---|---|---|---|---|---|---|',
  row('cold start to first 200 (ms)', 'coldStartMs'),
  row('requests per second', 'rps'),
  '',
].join('\n');
await writeFile(join(BENCH, 'results', 'otel-cost.json'), `${JSON.stringify(result, null, 2)}\n`);
await writeFile(join(BENCH, 'results', 'otel-cost.md'), markdown);
console.log(markdown);
