/**
 * `npm run bench`: ferry against the article's webpack 5 + @module-federation/node system and against the same
 * app requiring the validator locally, in one run, interleaved, on this machine. Writes bench/results/latest.json
 * and latest.md (`--quick`: quick.json and quick.md). See bench/README.md.
 *
 * Options: `--quick` (2 runs, 1 s of load, webpack skipped with a message if it is not installed or fails),
 * `--runs N` (default 15), `--duration S` (autocannon seconds), `--connections N`, `--keep` (leave the temp folder), `--no-scale`
 * (skip the scale benchmark, bench/scale.ts, which runs afterwards with `--quick` passed on).
 *
 * @example
 * ```sh
 * npm run build && npm --prefix bench install --no-audit --no-fund && node bench/run.ts
 * node bench/run.ts --quick
 * ```
 */
import { spawn } from 'node:child_process';
import { existsSync, rmSync, statSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MANIFEST_FILE, parseManifest } from '../src/manifest/index.ts';
import { type HostCommand, measureRps, runUntilExit, startHost, waitForBody } from './host-process.ts';
import { compileCost, startupFiles, verifyCost } from './micro.ts';
import { type CountingServer, ferryHandler, startCountingServer, staticHandler } from './remote-server.ts';
import {
  type BuildVariant,
  type LiveUpdateRun,
  type Results,
  renderMarkdown,
  type SoakResult,
  type VariantName,
  type VariantRun,
} from './report.ts';
import { BENCH, BENCH_MODULES, createLayout, REPO, writeNextValidator } from './setup.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    duration: { type: 'string' },
    connections: { type: 'string', default: '10' },
    keep: { type: 'boolean', default: false },
    // The scale benchmark (bench/scale.ts) runs after this one unless told not to.
    scale: { type: 'boolean', default: true },
  },
  allowNegative: true,
});
const quick = values.quick;
// 15 runs: with 7, the interval that holds a median (stats.ts `judge`) is the whole range, and on this machine the
// start-up ratios' ranges span their targets (bench/ROUNDS.md, sixteenth round).
const runs = Number(values.runs ?? (quick ? 2 : 15));
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

// 1. Remote builds, interleaved: the article's `webpack` against `ferry build` (and, for the breakdown, `ferry build`
// with `dts: false`, and `ferry build --no-cache`, which bundles the shared fallbacks again as a first build does),
// each as a CLI process; the order rotates every run. The article's webpack config keeps no cache between builds.
const buildMs: Record<BuildVariant, number[]> = { webpack: [], ferry: [], ferryNoDts: [], ferryNoCache: [] };
const buildOrder: BuildVariant[] = ['webpack', 'ferry', 'ferryNoDts', 'ferryNoCache'];
for (let i = 0; i < runs; i++) {
  const order = buildOrder.map((_, k) => buildOrder[(k + i) % buildOrder.length]!);
  for (const which of order) {
    if (which === 'webpack' && !webpack.ok) continue;
    const result =
      which === 'webpack'
        ? await timed([WEBPACK_CLI, '--config', 'webpack.config.js'], layout.webpackRemote)
        : which === 'ferryNoCache'
          ? await timed([FERRY_CLI, 'build', '--no-cache'], layout.ferryRemote)
          : await timed([FERRY_CLI, 'build'], which === 'ferry' ? layout.ferryRemote : layout.ferryRemoteNoDts);
    if (result.code !== 0) {
      const message = `${which} build failed (exit ${result.code}): ${result.output.slice(-800)}`;
      if (which !== 'webpack' || !quick) fail(message);
      webpack = { ok: false, why: message };
      notes.push(`webpack variant skipped: ${message}`);
      log(notes.at(-1)!);
      continue;
    }
    buildMs[which].push(result.ms);
  }
  log(
    `build run ${i + 1}/${runs}: webpack ${fmt(buildMs.webpack.at(-1))} ms, ferry ${fmt(buildMs.ferry.at(-1))} ms, ` +
      `ferry without d.ts ${fmt(buildMs.ferryNoDts.at(-1))} ms, ferry --no-cache ${fmt(buildMs.ferryNoCache.at(-1))} ms`,
  );
}
// Where ferry build's time goes (bench/build-phases.ts, the build's own steps in a fresh process), a few times.
const buildPhases: Record<string, number>[] = [];
for (let i = 0; i < Math.min(runs, 5); i++) {
  const result = await timed([join(BENCH, 'build-phases.ts')], layout.ferryRemote);
  const line = result.output.split('\n').find((text) => text.startsWith('{'));
  if (result.code === 0 && line) buildPhases.push(JSON.parse(line) as Record<string, number>);
  else notes.push(`build-phases.ts failed: ${result.output.slice(-300)}`);
}
// A build against the length of the output folder's history: every build keeps a release, and every build reads
// the kept ones (to leave their files in place). A copy of the demo remote gets HISTORY more kept releases (the last
// manifest under lower release numbers), and its builds alternate with the original's.
const HISTORY = quick ? 100 : 500;
const historyRemote = join(layout.root, 'ferry', 'remote-history');
await cp(layout.ferryRemote, historyRemote, { recursive: true, verbatimSymlinks: true });
{
  const releases = join(historyRemote, 'dist', 'federation', 'releases');
  const manifest = JSON.parse(await readFile(join(historyRemote, 'dist', 'federation', MANIFEST_FILE), 'utf8'));
  const lowest = Math.min(
    ...(await readdir(releases)).map((name) => Number.parseInt(name, 10)).filter(Number.isFinite),
  );
  for (let i = 1; i <= HISTORY; i++) {
    manifest.ferry.release = lowest - i;
    await writeFile(join(releases, `${lowest - i}.json`), `${JSON.stringify(manifest, null, 2)}\n`);
  }
}
const historyMs: { few: number[]; many: number[]; extra: number } = { few: [], many: [], extra: HISTORY };
for (let i = 0; i < Math.min(runs, 5); i++) {
  for (const which of i % 2 ? (['many', 'few'] as const) : (['few', 'many'] as const)) {
    const result = await timed([FERRY_CLI, 'build'], which === 'few' ? layout.ferryRemote : historyRemote);
    if (result.code !== 0) fail(`ferry build with ${which} kept releases failed: ${result.output.slice(-800)}`);
    historyMs[which].push(result.ms);
  }
}
log(
  `build with ${HISTORY} more kept releases: ${fmt(Math.min(...historyMs.many))} against ${fmt(Math.min(...historyMs.few))} ms (fastest)`,
);
const ferryDist = join(layout.ferryRemote, 'dist', 'federation');
const webpackDist = join(layout.webpackRemote, 'dist');
const distBytes = {
  ferry: await folderBytes(ferryDist),
  ...(webpack.ok ? { webpack: await folderBytes(webpackDist) } : {}),
};

// 2. The remotes' servers (in this process, counting what hosts fetch) and the webpack host's build.
const ferryRequests = ferryHandler(ferryDist);
const ferryRemote = await startCountingServer(ferryRequests);
const webpackRemote = webpack.ok ? await startCountingServer(staticHandler(webpackDist)) : undefined;
let webpackHostBuildMs: number | undefined;
if (webpackRemote) {
  const env = { AUTH_REMOTE_URL: `http://127.0.0.1:${webpackRemote.port}/remoteEntry.js` };
  const result = await timed([WEBPACK_CLI, '--config', 'webpack.config.js'], layout.webpackHost, env);
  if (result.code !== 0) fail(`webpack host build failed: ${result.output.slice(-800)}`);
  webpackHostBuildMs = result.ms;
}

let cacheDirs = 0;
const freshCacheDir = () => join(layout.root, 'ferry-cache', `${++cacheDirs}`);
const hostCommand = (variant: VariantName, cacheDir = freshCacheDir()): HostCommand => {
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
      // A fresh cache folder per start (every start is a cold one), unless one is given (start from cache).
      FERRY_CACHE_DIR: cacheDir,
    },
  };
};
const remoteOf = (variant: VariantName): CountingServer | undefined =>
  variant === 'ferry' ? ferryRemote : variant === 'webpack' ? webpackRemote : undefined;
/** Starts a host of `variant` with its remote's counters reset: the running host, and what its start measured. */
const startCounted = async (run: number, variant: VariantName, cacheDir?: string) => {
  const remote = remoteOf(variant);
  remote?.reset();
  const host = await startHost(hostCommand(variant, cacheDir));
  const fetched = remote?.counts();
  const measured: VariantRun = {
    run,
    variant,
    coldStartMs: host.coldStartMs,
    rssMiB: host.rssMiB,
    ...(fetched ? { fetched } : {}),
  };
  return { host, measured };
};

// 3. Hosts, per run: (a) cold start to the first 200 with the remotes up, RSS, bytes fetched, requests per second;
// (b) with the remotes stopped: the local baseline again, the ferry host from the cache its cold start of (a) left,
// and the webpack host (which exits). The order rotates every run.
const variants: VariantName[] = webpack.ok ? ['local', 'ferry', 'webpack'] : ['local', 'ferry'];
const hostRuns: VariantRun[] = [];
const warmRuns: VariantRun[] = [];
const fromCacheRuns: VariantRun[] = [];
const webpackDown: { code: number | null; ms: number; stderr: string }[] = [];
for (let i = 0; i < runs; i++) {
  const order = variants.map((_, k) => variants[(k + i) % variants.length]!);
  let warmCache: string | undefined;
  for (const variant of order) {
    const cacheDir = freshCacheDir();
    if (variant === 'ferry') warmCache = cacheDir;
    const { host, measured: run } = await startCounted(i, variant, cacheDir);
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

  // (b) A restart with the remotes up: ferry with the cache folder its cold start left (one conditional request for
  // the manifest, answered 304; the files come from its disk cache), and the local baseline started again beside it.
  // The webpack host has no cache: its restart is its cold start.
  for (const variant of order) {
    if (variant === 'webpack') continue;
    const { host, measured } = await startCounted(i, variant, variant === 'ferry' ? warmCache : undefined);
    await host.stop();
    warmRuns.push(measured);
    log(
      `run ${i + 1}/${runs} ${variant}, restart with its cache: first 200 after ${fmt(measured.coldStartMs)} ms` +
        (measured.fetched ? `, fetched ${measured.fetched.wireBytes} B in ${measured.fetched.requests} requests` : ''),
    );
  }

  await ferryRemote.stop();
  await webpackRemote?.stop();
  for (const variant of order) {
    if (variant === 'webpack') {
      const down = await runUntilExit({ ...hostCommand('webpack'), timeoutMs: 60_000 });
      webpackDown.push(down);
      log(`run ${i + 1}/${runs} webpack, remote down: exited with ${down.code} after ${fmt(down.ms)} ms`);
      continue;
    }
    try {
      const host = await startHost({
        ...hostCommand(variant, variant === 'ferry' ? warmCache : undefined),
        timeoutMs: 15_000,
      });
      const run: VariantRun = { run: i, variant, coldStartMs: host.coldStartMs, rssMiB: host.rssMiB };
      try {
        // The same app's second start in this run, loaded the same way: how far two measurements of one app
        // differ on this machine (the report's noise floor).
        if (rps && variant === 'local') {
          run.load = await measureRps(AUTOCANNON_CLI, host.url, layout.token, seconds, connections);
        }
      } finally {
        await host.stop();
      }
      fromCacheRuns.push(run);
      log(
        `run ${i + 1}/${runs} ${variant}, remote down: first 200 after ${fmt(host.coldStartMs)} ms` +
          (run.load ? `, ${fmt(run.load.rps)} req/s` : ''),
      );
    } catch (error) {
      // Recorded, not fatal: the table says in how many runs the start from cache worked.
      notes.push(`run ${i + 1}: ${variant} with the remote down gave no 200: ${(error as Error).message}`);
      log(notes.at(-1)!);
    }
  }
  await ferryRemote.start();
  await webpackRemote?.start();
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

// 5. Micro-benchmarks: verification cost per load, and compile cost with and without the runtime's V8 code cache,
// for the files the demo host compiles at start-up and for every JavaScript file of the build.
const verify = verifyCost(ferryDist, layout.ferryPublicKey, {
  batches: Math.max(5, runs),
  iterations: quick ? 200 : 2000,
});
const builtFiles = parseManifest(await readFile(join(ferryDist, MANIFEST_FILE)), MANIFEST_FILE).ferry.files;
const allJs = Object.keys(builtFiles).filter((file) => file.endsWith('.js'));
const compile = {
  startup: compileCost(
    ferryDist,
    startupFiles(ferryDist, './tokenValidator').compiled,
    join(layout.root, 'code-cache', 'startup'),
    Math.max(5, runs),
  ),
  all: compileCost(ferryDist, allJs, join(layout.root, 'code-cache', 'all'), Math.max(5, runs)),
};

// 6. Live updates, per run: a ferry host serving version N; `ferry build` of a changed validator (version N+1) into
// the folder the remote serves; the time from the new manifest's mtime to the first /profile answer of the new
// validator, while a client calls /profile back to back. (webpack: the remote's new build is used after a restart.)
const liveUpdates: LiveUpdateRun[] = [];
for (let i = 0; i < runs; i++) {
  const marker = `bench-${i + 1}`;
  await writeNextValidator(layout, marker, `1.1.${i + 1}`);
  const host = await startHost(hostCommand('ferry'));
  try {
    const seen = waitForBody(host.url, layout.token, (body) => body.includes(`"validator":"${marker}"`), 30_000);
    const build = await timed([FERRY_CLI, 'build', '--out', ferryDist], layout.ferryRemoteNext);
    if (build.code !== 0) fail(`ferry build of the next version failed: ${build.output.slice(-800)}`);
    const manifestAt = statSync(join(ferryDist, MANIFEST_FILE)).mtimeMs;
    const answer = await seen;
    liveUpdates.push({
      run: i,
      latencyMs: answer.at - manifestAt,
      requestsDuringSwap: answer.requests,
      failedRequests: answer.failures,
    });
    log(
      `run ${i + 1}/${runs} live update: new validator served ${fmt(answer.at - manifestAt)} ms after the new ` +
        `manifest was written (${answer.requests} requests, ${answer.failures} not 200)`,
    );
  } finally {
    await host.stop();
  }
}

// 7. Heap across repeated version swaps: bench/soak.ts in short form (npm run soak runs 500 versions).
const soak = await runSoak(quick ? 30 : 100);
log(`soak: ${soak.versions} versions, heap after GC ${JSON.stringify(soak.heapAfterGcMiB ?? soak.error)}`);

await ferryRemote.stop();
await webpackRemote?.stop();
ferryRequests.close();

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
  buildPhases,
  historyMs,
  webpackHostBuildMs,
  distBytes,
  hostRuns,
  warmRuns,
  fromCacheRuns,
  webpackDown,
  liveUpdates,
  soak,
  instrumented,
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

// The scale benchmark (issue 21): how the cost grows with remotes, bundle size, fleet size and uptime, in its own
// process (`--quick` passed on). `--no-scale` skips it.
if (values.scale) {
  const scale = spawn(process.execPath, [join(BENCH, 'scale.ts'), ...(quick ? ['--quick'] : [])], { stdio: 'inherit' });
  const code = await new Promise<number | null>((resolve) => scale.once('exit', resolve));
  if (code !== 0) {
    console.error(`[bench] bench/scale.ts exited with ${code}`);
    process.exit(1);
  }
}

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

/** Runs bench/soak.ts in its own process (it needs --expose-gc and a small heap) and reads its JSON line. */
async function runSoak(versions: number): Promise<SoakResult> {
  const args = ['--expose-gc', '--max-old-space-size=64', join(BENCH, 'soak.ts'), '--versions', `${versions}`];
  const result = await timed(args, REPO);
  const line = result.output.split('\n').find((text) => text.startsWith('{"versions"'));
  if (!line) return { versions, passed: false, error: result.output.trim().slice(-500) };
  return { ...(JSON.parse(line) as Omit<SoakResult, 'passed'>), passed: result.code === 0 };
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
