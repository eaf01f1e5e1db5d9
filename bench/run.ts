/**
 * `npm run bench`: ferry against the article's webpack 5 + @module-federation/node system and against the same
 * app requiring the validator locally, in one run, interleaved, on this machine. Writes bench/results/latest.json
 * and latest.md (`--quick`: quick.json and quick.md). See bench/README.md.
 *
 * Options: `--quick` (2 runs, 1 s of load, webpack skipped with a message if it is not installed or fails),
 * `--runs N`, `--duration S` (autocannon seconds), `--connections N`, `--keep` (leave the temp folder).
 *
 * @example
 * ```sh
 * npm run build && npm --prefix bench install --no-audit --no-fund && node bench/run.ts
 * node bench/run.ts --quick
 * ```
 */
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { firstAnswer, type HostCommand, measureRps, runUntilExit, startHost } from './host-process.ts';
import { compileCost, verifyCost } from './micro.ts';
import { type CountingServer, ferryHandler, startCountingServer, staticHandler } from './remote-server.ts';
import { type Results, renderMarkdown, type VariantName, type VariantRun } from './report.ts';
import { BENCH, BENCH_MODULES, createLayout, REPO } from './setup.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    duration: { type: 'string' },
    connections: { type: 'string', default: '10' },
    keep: { type: 'boolean', default: false },
  },
});
const quick = values.quick;
const runs = Number(values.runs ?? (quick ? 2 : 7));
const seconds = Number(values.duration ?? (quick ? 1 : 5));
const connections = Number(values.connections);
const log = (line: string) => console.log(`[bench] ${line}`);
const benchStarted = performance.now();

const WEBPACK_CLI = join(BENCH_MODULES, 'webpack-cli', 'bin', 'cli.js');
const AUTOCANNON_CLI = join(BENCH_MODULES, 'autocannon', 'autocannon.js');
const FERRY_CLI = join(REPO, 'bin', 'ferry.js');

if (!existsSync(join(REPO, 'dist', 'index.js'))) {
  console.error('[bench] dist/ is missing: run `npm run build` first (npm run bench does).');
  process.exit(1);
}

const layout = await createLayout();
log(`temp folder ${layout.root}; ${runs} runs, autocannon ${seconds} s x ${connections} connections`);
const notes: string[] = [];
let webpack = existsSync(WEBPACK_CLI) ? { ok: true, why: '' } : { ok: false, why: 'webpack-cli is not installed' };
const rps = existsSync(AUTOCANNON_CLI);
if (!rps) notes.push('autocannon is not installed (npm --prefix bench install): requests per second skipped.');
if (!webpack.ok) {
  const message = `webpack variant skipped: ${webpack.why} (run npm --prefix bench install --no-audit --no-fund).`;
  if (!quick) fail(message);
  log(message);
  notes.push(message);
}

// 1. Remote builds, interleaved: the article's `webpack` against `ferry build`, each as a CLI process.
const buildMs: Record<'webpack' | 'ferry', number[]> = { webpack: [], ferry: [] };
for (let i = 0; i < runs; i++) {
  const order: ('webpack' | 'ferry')[] = i % 2 === 0 ? ['webpack', 'ferry'] : ['ferry', 'webpack'];
  for (const which of order) {
    if (which === 'webpack' && !webpack.ok) continue;
    const result =
      which === 'webpack'
        ? await timed([WEBPACK_CLI, '--config', 'webpack.config.js'], layout.webpackRemote)
        : await timed([FERRY_CLI, 'build'], layout.ferryRemote);
    if (result.code !== 0) {
      const message = `${which} build failed (exit ${result.code}): ${result.output.slice(-800)}`;
      if (which === 'ferry' || !quick) fail(message);
      webpack = { ok: false, why: message };
      notes.push(`webpack variant skipped: ${message}`);
      log(notes.at(-1)!);
      continue;
    }
    buildMs[which].push(result.ms);
  }
  log(`build run ${i + 1}/${runs}: webpack ${fmt(buildMs.webpack.at(-1))} ms, ferry ${fmt(buildMs.ferry.at(-1))} ms`);
}
const ferryDist = join(layout.ferryRemote, 'dist', 'federation');
const webpackDist = join(layout.webpackRemote, 'dist');

// 2. The remotes' servers (in this process, counting what hosts fetch) and the webpack host's build.
const ferryRemote = await startCountingServer(ferryHandler(ferryDist));
const webpackRemote = webpack.ok ? await startCountingServer(staticHandler(webpackDist)) : undefined;
let webpackHostBuildMs: number | undefined;
if (webpackRemote) {
  const env = { AUTH_REMOTE_URL: `http://127.0.0.1:${webpackRemote.port}/remoteEntry.js` };
  const result = await timed([WEBPACK_CLI, '--config', 'webpack.config.js'], layout.webpackHost, env);
  if (result.code !== 0) fail(`webpack host build failed: ${result.output.slice(-800)}`);
  webpackHostBuildMs = result.ms;
}

let cacheDirs = 0;
const hostCommand = (variant: VariantName): HostCommand => {
  if (variant === 'local')
    return { command: ['server.js'], cwd: layout.local, env: { PORT: '0' }, token: layout.token };
  if (variant === 'webpack') {
    return { command: ['dist/main.js'], cwd: layout.webpackHost, env: { PORT: '0' }, token: layout.token };
  }
  return {
    command: ['server.js'],
    cwd: layout.ferryHost,
    token: layout.token,
    env: {
      USER_SERVICE_PORT: '0',
      AUTH_SERVICE_URL: `http://127.0.0.1:${ferryRemote.port}`,
      FERRY_AUTH_PUBLIC_KEY: layout.ferryPublicKey,
      // A fresh cache folder per start: every start is a cold one.
      FERRY_CACHE_DIR: join(layout.root, 'ferry-cache', `${++cacheDirs}`),
    },
  };
};
const remoteOf = (variant: VariantName): CountingServer | undefined =>
  variant === 'ferry' ? ferryRemote : variant === 'webpack' ? webpackRemote : undefined;

// 3. Hosts: cold start to the first 200, RSS, bytes fetched, requests per second; order rotates every run.
const variants: VariantName[] = webpack.ok ? ['local', 'ferry', 'webpack'] : ['local', 'ferry'];
const hostRuns: VariantRun[] = [];
for (let i = 0; i < runs; i++) {
  const order = variants.map((_, k) => variants[(k + i) % variants.length]!);
  for (const variant of order) {
    const remote = remoteOf(variant);
    remote?.reset();
    const host = await startHost(hostCommand(variant));
    const fetched = remote?.counts();
    const run: VariantRun = {
      run: i,
      variant,
      coldStartMs: host.coldStartMs,
      rssMiB: host.rssMiB,
      ...(fetched ? { fetched } : {}),
    };
    try {
      if (rps) run.load = await measureRps(AUTOCANNON_CLI, host.url, layout.token, seconds, connections);
    } finally {
      await host.stop();
    }
    hostRuns.push(run);
    log(
      `run ${i + 1}/${runs} ${variant}: first 200 after ${fmt(run.coldStartMs)} ms, RSS ${fmt(run.rssMiB)} MiB` +
        (run.load ? `, ${fmt(run.load.rps)} req/s` : '') +
        (run.fetched ? `, fetched ${run.fetched.wireBytes} B in ${run.fetched.requests} requests` : ''),
    );
  }
}

// 4. Where ferry's cold start goes: instrumented starts (not among the timed ones).
const instrumented: unknown[] = [];
for (let i = 0; i < Math.max(2, Math.ceil(runs / 2)); i++) {
  const command = hostCommand('ferry');
  command.command = ['--import', join(BENCH, 'ferry-instrument.ts'), ...command.command];
  const host = await startHost(command);
  await host.stop();
  const line = host.stderr.find((text) => text.startsWith('ferry-bench-instrument '));
  if (line) {
    instrumented.push({
      coldStartMs: host.coldStartMs,
      ...JSON.parse(line.slice('ferry-bench-instrument '.length)),
    });
  }
}

// 5. Host start with the remote down. ferry has no disk cache yet; the webpack host exits.
await ferryRemote.stop();
await webpackRemote?.stop();
const ferryDown = await firstAnswer(hostCommand('ferry'));
const webpackDown = webpack.ok ? await runUntilExit({ ...hostCommand('webpack'), timeoutMs: 60_000 }) : undefined;

// 6. Micro-benchmarks: verification cost per load, and compile cost with and without a V8 code cache.
const verify = verifyCost(ferryDist, layout.ferryPublicKey, {
  batches: Math.max(5, runs),
  iterations: quick ? 200 : 2000,
});
const compile = compileCost(ferryDist, join(layout.root, 'code-cache.json'), Math.max(5, runs));

const results: Results = {
  generatedAt: new Date().toISOString(),
  quick,
  settings: { runs, autocannon: { seconds, connections }, path: '/profile' },
  machine: {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    v8: process.versions.v8,
    os: `${process.platform} ${release()}`,
    loadavgAtEnd: loadavg().map((value) => Math.round(value * 100) / 100),
  },
  webpack: webpack.ok ? { included: true } : { included: false, why: webpack.why },
  buildMs,
  webpackHostBuildMs,
  distBytes: {
    ferry: await folderBytes(ferryDist),
    ...(webpack.ok ? { webpack: await folderBytes(webpackDist) } : {}),
  },
  hostRuns,
  instrumented,
  remoteDown: {
    ferry: { supported: false, observed: ferryDown },
    ...(webpackDown ? { webpack: webpackDown } : {}),
  },
  verify,
  compile,
  notes,
  benchSeconds: 0,
};
results.benchSeconds = Math.round((performance.now() - benchStarted) / 1000);
const out = join(BENCH, 'results');
await mkdir(out, { recursive: true });
const name = quick ? 'quick' : 'latest';
const markdown = renderMarkdown(results);
await writeFile(join(out, `${name}.json`), `${JSON.stringify(results, null, 2)}\n`);
await writeFile(join(out, `${name}.md`), markdown);
console.log(`\n${markdown}`);
log(`wrote bench/results/${name}.json and ${name}.md in ${results.benchSeconds} s`);
if (!values.keep) await rm(layout.root, { recursive: true, force: true });

/** Runs `node ...args` in `cwd` and measures its wall time. */
async function timed(
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<{ code: number | null; ms: number; output: string }> {
  const started = performance.now();
  const child = spawn(process.execPath, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
  return { code, ms: performance.now() - started, output };
}

async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir)) total += (await stat(join(dir, entry))).size;
  return total;
}

function fmt(value: number | undefined): string {
  return value === undefined ? '-' : value.toFixed(value >= 100 ? 0 : 1);
}

function fail(message: string): never {
  console.error(`[bench] ${message}`);
  if (!values.keep) rmSync(layout.root, { recursive: true, force: true });
  process.exit(1);
}
