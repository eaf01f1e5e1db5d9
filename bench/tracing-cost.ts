/**
 * `npm run bench:tracing`: what the tracing channels cost a host, in one run: `host.import()` of a loaded remote
 * (the hot path every request takes) with nobody subscribed, then with a no-op subscriber on the four
 * `tracing:ferry:*` channels, interleaved round by round (median of the rounds), plus cold imports (manifest and file
 * fetches from a loopback remote, fresh host each) both ways. Figures, not pass/fail; bench/README.md has a run.
 *
 * @example
 * ```sh
 * node bench/tracing-cost.ts            # 7 rounds of 20 000 hot imports, 40 cold imports per mode
 * node bench/tracing-cost.ts --quick    # 3 rounds of 5 000, 10 cold
 * # and the hot path of a ferry without tracing channels, in the same process, interleaved:
 * git archive <commit> src package.json | tar -x -C /tmp/base && ln -s "$PWD/node_modules" /tmp/base/
 * node bench/tracing-cost.ts --baseline /tmp/base/src/index.ts
 * ```
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createHost } from '../src/index.ts';
import { createRequestHandler } from '../src/server/index.ts';
import { writeRemoteOutput } from '../test/helpers/remote-output.ts';

const { values: flags } = parseArgs({ options: { quick: { type: 'boolean' }, baseline: { type: 'string' } } });
const quick = flags.quick === true;
const ROUNDS = quick ? 3 : 7;
const HOT = quick ? 5_000 : 20_000;
const COLD = quick ? 10 : 40;

const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-tracing-'));
await writeRemoteOutput(dir, { name: 'authService', exposes: { './x': { code: 'exports.answer = 42;\n' } } });
const handler = createRequestHandler({ dir });
const server = createServer((req, res) => handler(req, res));
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mf-manifest.json`;
const hostOptions = {
  name: 'bench',
  remotes: { authService: url },
  cache: { dir: join(dir, '.cache') },
  live: { pollInterval: false as const, push: false },
  onWarning: () => {},
};

const noop = { start() {}, end() {}, asyncStart() {}, asyncEnd() {}, error() {} };
const channels = ['import', 'manifest', 'file', 'update'].map((name) =>
  diagnosticsChannel.tracingChannel(`ferry:${name}`),
);
const subscribe = () => {
  for (const channel of channels) channel.subscribe(noop);
};
const unsubscribe = () => {
  for (const channel of channels) channel.unsubscribe(noop);
};

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const host = createHost(hostOptions);
await host.import('authService/x');
// Another copy of ferry (an older checkout, before the tracing channels), loaded beside this one.
const baseline = flags.baseline
  ? ((await import(flags.baseline)) as { createHost: typeof createHost }).createHost({
      ...hostOptions,
      cache: { dir: join(dir, '.baseline') },
    })
  : undefined;
await baseline?.import('authService/x');
async function hotRound(target = host): Promise<number> {
  const started = process.hrtime.bigint();
  for (let i = 0; i < HOT; i++) await target.import('authService/x');
  return Number(process.hrtime.bigint() - started) / HOT;
}
let coldCount = 0;
async function coldImport(): Promise<number> {
  // A cache folder of its own: a cold start fetches the manifest and both files.
  const fresh = createHost({ ...hostOptions, cache: { dir: join(dir, `.cold-${coldCount++}`) } });
  const started = process.hrtime.bigint();
  await fresh.import('authService/x');
  const ns = Number(process.hrtime.bigint() - started);
  await fresh.close();
  return ns;
}

// Warm-up both ways, then interleaved rounds.
await hotRound();
subscribe();
await hotRound();
unsubscribe();
const hot = { none: [] as number[], subscribed: [] as number[], baseline: [] as number[] };
const cold = { none: [] as number[], subscribed: [] as number[] };
if (baseline) await hotRound(baseline);
// The order alternates from round to round (none, subscribed, baseline; then the reverse), so drift in the machine's
// speed during the run does not favour one mode.
for (let round = 0; round < ROUNDS; round++) {
  const modes = [
    async () => hot.none.push(await hotRound()),
    async () => {
      subscribe();
      hot.subscribed.push(await hotRound());
      unsubscribe();
    },
    ...(baseline ? [async () => hot.baseline.push(await hotRound(baseline))] : []),
  ];
  for (const mode of round % 2 === 0 ? modes : modes.reverse()) await mode();
}
for (let i = 0; i < COLD; i++) {
  cold.none.push(await coldImport());
  subscribe();
  cold.subscribed.push(await coldImport());
  unsubscribe();
}
await host.close();
await baseline?.close();
server.close();
rmSync(dir, { recursive: true, force: true });

// What nobody subscribing costs an operation: the one `hasSubscribers` read the runtime makes before building a context.
const READS = 10_000_000;
let seen = 0;
const readsStarted = process.hrtime.bigint();
for (let i = 0; i < READS; i++) if (channels[0]!.hasSubscribers) seen++;
const checkNs = Number(process.hrtime.bigint() - readsStarted) / READS;

const hotNone = median(hot.none);
const hotSub = median(hot.subscribed);
const coldNone = median(cold.none) / 1e6;
const coldSub = median(cold.subscribed) / 1e6;
console.log(
  `node ${process.version}, ${ROUNDS} interleaved rounds of ${HOT} hot imports, ${COLD} cold imports per mode`,
);
console.log(
  `the check an unobserved operation pays (hasSubscribers): ${checkNs.toFixed(1)} ns${seen ? ' (subscribed?)' : ''}`,
);
if (baseline) console.log(`hot import, ${flags.baseline} (no tracing channels): ${median(hot.baseline).toFixed(0)} ns`);
console.log(`hot import (loaded remote), nobody subscribed:      ${hotNone.toFixed(0)} ns`);
console.log(
  `hot import, no-op subscriber on tracing:ferry:*:    ${hotSub.toFixed(0)} ns (+${(hotSub - hotNone).toFixed(0)} ns)`,
);
console.log(`cold import (manifest + 2 files), nobody subscribed: ${coldNone.toFixed(2)} ms`);
console.log(`cold import, no-op subscriber:                       ${coldSub.toFixed(2)} ms`);
if (baseline) console.log(`baseline rounds (ns): ${hot.baseline.map((v) => v.toFixed(0)).join(' ')}`);
console.log(
  `rounds (ns): none ${hot.none.map((v) => v.toFixed(0)).join(' ')}; subscribed ${hot.subscribed.map((v) => v.toFixed(0)).join(' ')}`,
);
