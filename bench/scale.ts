/**
 * The scale benchmark (issue 21): how ferry's cost grows along four axes, each measured against its baseline in the
 * same run, interleaved. `node bench/scale.ts [--quick] [--runs N] [--axes remotes,bundle,fleet,uptime] [--keep]`;
 * `npm run bench` runs it after bench/run.ts (and `node bench/run.ts --quick` runs it with `--quick`). Writes
 * bench/results/scale[-quick].json, .md and one SVG chart per axis (bench/scale-charts.ts). See bench/README.md.
 *
 * 1. remotes: hosts of 1, 10, 50 remotes of 3 exposes of ~20 KB: spawn to every expose imported, and RSS, cold,
 *    restarted with the cache, and with the remotes down; against a process importing the same files locally.
 * 2. bundle: one expose of 10 KB .. 10 MB: the import and RSS against a local import of the same text, in a fresh
 *    process; then, in the same process, a second expose of the same size (the host running, the remote's manifest
 *    verified; the app running) against a second local file; ferry's file check (checkFileIntegrity) against
 *    node:crypto's raw SHA-384 of the same bytes.
 * 3. fleet: one createFerryServer, 100 / 1,000 hosts subscribed to its push channel, then polling (bench/scale-fleet.ts).
 * 4. uptime: 1,000 live swaps of a 200 KB remote in one process (bench/scale-uptime.ts).
 *
 * Axes 1 and 2 also run the floor beside ferry and the local app (scale-host.ts, `floorHost`): the same imports with
 * Node's primitives and no ferry, so that the report can tell what loading code over HTTP costs at all from what
 * ferry adds.
 */
import { spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { stripTypeScriptTypes } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FERRY_MODULE_PARAMETERS } from '../src/common/module-namespace.ts';
import { publicKeyOf } from '../src/manifest/index.ts';
import { checkFileIntegrity } from '../src/runtime/trust/file-integrity.ts';
import { createFerryServer } from '../src/server/index.ts';
import { renderCharts } from './scale-charts.ts';
import { moduleSource, writeFerryRemote, writeLocalModules, writeSharedPackage } from './scale-fixtures.ts';
import { type FleetResult, lines, runFleet } from './scale-fleet.ts';
import { renderScaleMarkdown, UPTIME_BASELINE, UPTIME_COMMONJS, UPTIME_COMMONJS_BASELINE } from './scale-report.ts';
import { BENCH, REPO } from './setup.ts';
import { round, summarize } from './stats.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    axes: { type: 'string', default: 'remotes,bundle,fleet,uptime' },
    keep: { type: 'boolean', default: false },
  },
});
const quick = values.quick;
const runs = Number(values.runs ?? (quick ? 2 : 5));
// The remotes axis's pairs are short (~2.5 s for a run of all of them) and its 50-remote ratios moved by ~0.1 between
// full runs of 5 (cold 1.97-2.2x), and still by ~0.1 between full runs of 10 (from the cache 1.28-1.37x, fifteenth
// round): four times the pairs in a full run (twice in --quick), unless --runs says how many.
const remoteRuns = values.runs ? runs : quick ? runs * 2 : runs * 4;
const axes = new Set(values.axes.split(','));
const log = (line: string) => console.log(`[scale] ${line}`);
const FERRY = join(REPO, 'dist', 'index.js');
if (!existsSync(FERRY)) {
  console.error('[scale] dist/ is missing: run `npm run build` first (npm run bench does).');
  process.exit(1);
}
const started = performance.now();
const root = await mkdtemp(join(tmpdir(), 'ferry-scale-'));
const { privateKey } = generateKeyPairSync('ed25519');
const publicKey = publicKeyOf(privateKey);
// The host's (and the local app's) folder: node_modules/scale-shared is the shared singleton.
const appRoot = join(root, 'app');
await writeSharedPackage(join(appRoot, 'node_modules'));
await writeFile(join(appRoot, 'package.json'), '{"name":"scale-app","private":true}\n');
// The measured processes run plain JavaScript: scale-host.ts with its types stripped here, so that neither variant
// pays for Node's type stripping (~50 ms of loading its wasm parser) at every start.
const HOST_SCRIPT = join(root, 'scale-host.mjs');
await writeFile(HOST_SCRIPT, stripTypeScriptTypes(await readFile(join(BENCH, 'scale-host.ts'), 'utf8')));

/**
 * Between axes (and fleet sizes): the files the last one wrote removed, and the disk flushed (`sync`), so that their
 * writeback, and the discards their removal issues on this machine's file system, are over before the next axis's
 * first sample. Without it the 1,000-host swap, whose every activation creates files, took 2.8 s in the full run
 * (5.0 ms of CPU per activation: creating files is slower while the disk is busy) against 1.9 s (3.3 ms) on its own
 * (bench/ROUNDS.md, fifteenth round).
 */
async function settle(...dirs: string[]): Promise<void> {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  spawnSync('sync');
}

export interface Sample {
  /** spawn to the child's result line */
  wallMs: number;
  /** in the child: from its start (performance.now) to every module imported */
  importMs: number;
  /** ferry: of importMs, loading ferry and createHost() before the first import (0 for local) */
  setupMs?: number;
  /** bundle: the import of a second module of the same size, in the same process, after the first */
  secondMs?: number;
  rssMiB: number;
}
export interface Paired {
  label: string;
  x: number;
  ferry: Sample[];
  local: Sample[];
  /** The floor (scale-host.ts): the same work with Node's primitives and no ferry (absent in runs before it). */
  floor?: Sample[];
}

type Variant = 'local' | 'ferry' | 'floor';
/** The three variants of a pair, in an order that turns with `turn`, so that each goes first as often as the others. */
const inTurn = (turn: number): Variant[] => {
  const all: Variant[] = ['local', 'ferry', 'floor'];
  return [...all.slice(turn % 3), ...all.slice(0, turn % 3)];
};

/** Runs bench/scale-host.ts with `job`; resolves with what it measured, or rejects with its output. */
async function child(job: Record<string, unknown>, extraArgs: string[] = []): Promise<Sample> {
  const t0 = performance.now();
  // The floor compiles the remotes' files as ferry modules: with their parameter names, in order.
  const sent = job['variant'] === 'floor' ? { ...job, floorParameters: FERRY_MODULE_PARAMETERS } : job;
  const proc = spawn(process.execPath, [...extraArgs, HOST_SCRIPT, JSON.stringify(sent)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let wallMs = 0;
  proc.stdout.on('data', (chunk: Buffer) => {
    out += chunk;
    if (!wallMs && out.includes('\n')) wallMs = performance.now() - t0;
  });
  proc.stderr.on('data', (chunk: Buffer) => {
    err += chunk;
  });
  const killer = setTimeout(() => proc.kill('SIGKILL'), 120_000);
  const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
  clearTimeout(killer);
  const line = out.split('\n').find((text) => text.startsWith('{'));
  if (code !== 0 || !line) throw new Error(`scale-host exited ${code}: ${(err || out).slice(-1500)}`);
  const parsed = JSON.parse(line) as { importMs: number; setupMs: number; secondMs?: number; rssMiB: number };
  return {
    wallMs,
    importMs: parsed.importMs,
    setupMs: parsed.setupMs,
    ...(parsed.secondMs === undefined ? {} : { secondMs: parsed.secondMs }),
    rssMiB: parsed.rssMiB,
  };
}

const results: Record<string, unknown> = {
  generatedAt: new Date().toISOString(),
  quick,
  runs,
  remoteRuns,
  machine: { cpu: cpus()[0]?.model, cores: cpus().length, node: process.version },
};

// What ran before (npm run bench runs bench/run.ts first) settles too.
await settle();

// 1. Remotes per host.
if (axes.has('remotes')) {
  const counts = [1, 10, 50];
  const dirs: string[] = [];
  const localFiles: string[] = [];
  const specifiers: string[] = [];
  for (let r = 0; r < 50; r++) {
    const sources: Record<string, string> = {};
    for (let e = 0; e < 3; e++) sources[`./x${e}`] = moduleSource(r * 3 + e, 20_000);
    const dir = join(root, 'remotes', `r${r}`);
    await writeFerryRemote(dir, { name: `r${r}`, version: '1.0.0', release: 1, sources }, privateKey);
    await writeLocalModules(join(appRoot, 'local', `r${r}`), sources);
    dirs.push(dir);
    for (let e = 0; e < 3; e++) {
      localFiles.push(join(appRoot, 'local', `r${r}`, `x${e}.mjs`));
      specifiers.push(`r${r}/x${e}`);
    }
  }
  // The 50 remotes are served by a process of their own (scale-remote-servers.ts), not on this one's event loop.
  const servers = spawn(
    process.execPath,
    [join(BENCH, 'scale-remote-servers.ts'), JSON.stringify(dirs), join(REPO, 'dist', 'server', 'index.js')],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const replies = lines(servers);
  const urls = JSON.parse(await replies.next()) as string[];
  const remoteUrls = Object.fromEntries(urls.map((url, r) => [`r${r}`, url]));
  const command = async (line: string) => {
    servers.stdin!.write(`${line}\n`);
    const answer = await replies.next();
    if (answer !== 'ok') throw new Error(`scale-remote-servers.ts answered ${answer} to ${line}`);
  };
  const jobOf = (n: number, variant: Variant, cacheDir: string, phase: 'cold' | 'cache' | 'down') => ({
    kind: 'remotes',
    variant,
    root: appRoot,
    remotes: Object.fromEntries(Object.entries(remoteUrls).slice(0, n)),
    publicKey,
    cacheDir,
    files: localFiles.slice(0, n * 3),
    specifiers: specifiers.slice(0, n * 3),
    ferry: FERRY,
    // The floor's "cache" is each remote's own folder (the same bytes ferry's cache holds after the cold start).
    ...(variant === 'floor' && phase !== 'cold'
      ? { floorDirs: Object.fromEntries(dirs.slice(0, n).map((dir, r) => [`r${r}`, dir])) }
      : {}),
  });
  const phases = ['cold', 'cache', 'down'] as const;
  const series: Record<string, Paired[]> = { cold: [], cache: [], down: [] };
  for (const n of counts)
    for (const phase of phases) series[phase]!.push({ label: `${n}`, x: n, ferry: [], local: [], floor: [] });
  let caches = 0;
  for (let i = 0; i < remoteRuns; i++) {
    for (const [k, n] of counts.entries()) {
      const cacheDir = join(root, 'cache', `${++caches}`);
      for (const phase of phases) {
        if (phase === 'down') await command(`down ${n}`);
        const pair = series[phase]![k]!;
        for (const variant of inTurn(i + k)) pair[variant]!.push(await child(jobOf(n, variant, cacheDir, phase)));
        log(
          `remotes ${n} ${phase} run ${i + 1}/${remoteRuns}: ferry ${pair.ferry.at(-1)!.wallMs.toFixed(0)} ms, ` +
            `local ${pair.local.at(-1)!.wallMs.toFixed(0)} ms, floor ${pair.floor!.at(-1)!.wallMs.toFixed(0)} ms`,
        );
      }
      // Start the remotes again on the same ports.
      await command(`up ${n}`);
    }
  }
  servers.stdin!.end();
  await new Promise((resolve) => servers.once('exit', resolve));
  results['remotes'] = series;
  await settle(join(root, 'remotes'), join(root, 'cache'));
}

// 2. Bundle size.
if (axes.has('bundle')) {
  const sizes = quick ? [10_000, 100_000, 1_000_000, 10_000_000] : [10_000, 100_000, 1_000_000, 10_000_000];
  const pairs: Paired[] = [];
  const verify: Array<{ bytes: number; rawMBps: number[]; ferryMBps: number[] }> = [];
  for (const [k, size] of sizes.entries()) {
    // ./second: as large, other code (nothing in common with ./big for V8 to reuse), imported after ./big.
    const sources = { './big': moduleSource(1000 + k, size), './second': moduleSource(2000 + k, size) };
    const dir = join(root, 'bundles', `b${k}`);
    await writeFerryRemote(dir, { name: `b${k}`, version: '1.0.0', release: 1, sources }, privateKey);
    await writeLocalModules(join(appRoot, 'bundles', `b${k}`), sources);
    const server = await createFerryServer({ dir, port: 0 });
    const pair = await bundlePair({ label: `${size}`, size, remote: `b${k}`, local: `b${k}`, url: server.url }, true);
    await server.close();
    pairs.push(pair);
    // Verification throughput: the host's file check on the expose's bytes against node:crypto's raw SHA-384 of
    // the same bytes, interleaved, in this process.
    const manifest = JSON.parse(await readFile(join(dir, 'mf-manifest.json'), 'utf8')) as {
      ferry: { exposes: Record<string, { file: string }>; files: Record<string, { size: number; integrity: string }> };
    };
    const file = manifest.ferry.exposes['./big']!.file;
    const bytes = await readFile(join(dir, file));
    const entry = manifest.ferry.files[file]!;
    const { createHash } = await import('node:crypto');
    const row = { bytes: bytes.byteLength, rawMBps: [] as number[], ferryMBps: [] as number[] };
    const reps = Math.max(3, Math.min(200, Math.round(20_000_000 / bytes.byteLength)));
    for (let i = 0; i < Math.max(5, runs); i++) {
      let t = performance.now();
      for (let j = 0; j < reps; j++) createHash('sha384').update(bytes).digest();
      row.rawMBps.push((bytes.byteLength * reps) / 1e6 / ((performance.now() - t) / 1000));
      t = performance.now();
      for (let j = 0; j < reps; j++) checkFileIntegrity(bytes, entry, { remote: 'b', url: 'u', file });
      row.ferryMBps.push((bytes.byteLength * reps) / 1e6 / ((performance.now() - t) / 1000));
    }
    verify.push(row);
  }
  // The same 1 MB and 10 MB exposes, each with the source map a real `ferry build` writes beside it (~0.9× its size):
  // a cold import fetches, hashes and caches the map with the code (a version runs whole or not at all). The rows
  // above, without maps, are the targets' figures; these say what a real remote of that size costs.
  const withMaps: Paired[] = [];
  for (const size of quick ? [1_000_000] : [1_000_000, 10_000_000]) {
    const k = sizes.indexOf(size);
    const sources = { './big': moduleSource(1000 + k, size), './second': moduleSource(2000 + k, size) };
    const dir = join(root, 'bundles', `m${k}`);
    await writeFerryRemote(dir, { name: `m${k}`, version: '1.0.0', release: 1, sources }, privateKey, { maps: true });
    const server = await createFerryServer({ dir, port: 0 });
    // The local app imports the same text (no map: Node reads none unless asked to).
    // No floor here: the least a runtime must do does not include a source map.
    const pair = await bundlePair(
      { label: `${size} + map`, size, remote: `m${k}`, local: `b${k}`, url: server.url },
      false,
    );
    await server.close();
    withMaps.push(pair);
  }
  results['bundle'] = { pairs, verify, withMaps };
  await settle(join(root, 'bundles'), join(root, 'bundle-cache'));
}

// 3. Fleet fan-out.
if (axes.has('fleet')) {
  const fleet: FleetResult[] = [];
  // The server holds a descriptor per connected host (and the host processes one per connection): the children raise
  // their soft limit to the hard one; a machine whose hard limit is too low for a size skips it, and says so.
  const hardLimit = Number(spawnSync('bash', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout.trim()) || Infinity;
  const skipped: string[] = [];
  for (const hosts of [100, 1000]) {
    if (hardLimit < hosts * 1.5 + 200) {
      skipped.push(`${hosts} hosts skipped: the hard descriptor limit (ulimit -Hn) is ${hardLimit}`);
      log(skipped.at(-1)!);
      continue;
    }
    for (const mode of ['push', 'poll'] as const) {
      // --quick (CI, about a minute): 1,000 hosts by push only; polling at 1,000 hosts takes ~30 s on its own.
      if (quick && hosts === 1000 && mode === 'poll') continue;
      const result = await runFleet({
        root: join(root, `fleet-${hosts}-${mode}`),
        hosts,
        mode,
        privateKey,
        quick,
        log,
        // Five builds one after another (the figure is the median's): one swap's figure on two shared cores moves
        // by a second from run to run, and the median of three still by ~0.3 s between full runs. --quick (CI) takes
        // one.
        swaps: quick ? 1 : 5,
      });
      fleet.push(result);
      await settle(join(root, `fleet-${hosts}-${mode}`));
    }
  }
  results['fleet'] = fleet;
  if (skipped.length > 0) results['fleetSkipped'] = skipped;
}

// 4. Uptime.
if (axes.has('uptime')) {
  const swaps = quick ? 150 : 1000;
  const variants: Array<{ name: string; args: string[]; extra?: string[]; env?: Record<string, string> }> = [
    { name: 'default', args: [] },
    // V8's young generation grows with the allocation rate and is kept: the same run with it capped shows how much
    // of the RSS growth that is.
    { name: 'max-semi-space-size=2', args: ['--max-semi-space-size=2'] },
    // The baseline: the same versions compiled and run with node:vm, no ferry (what V8 alone does with the memory).
    { name: UPTIME_BASELINE, args: [], extra: ['--baseline'] },
    // The same code as a CommonJS remote, through its container (the other compile site), and its own baseline.
    { name: UPTIME_COMMONJS, args: [], extra: ['--commonjs'] },
    { name: UPTIME_COMMONJS_BASELINE, args: [], extra: ['--commonjs', '--baseline'] },
  ];
  const uptime: Record<string, unknown> = {};
  for (const variant of variants) {
    log(`uptime: ${swaps} swaps (${variant.name})`);
    uptime[variant.name] = await runUptime(swaps, variant.args, variant.extra, variant.env);
  }
  results['uptime'] = uptime;
}

results['seconds'] = Math.round((performance.now() - started) / 1000);
results['loadavgAtEnd'] = loadavg().map((value) => round(value));
// A run of some axes only (--axes) writes into results/partial/ (not kept in git) instead of over the full run's
// files, which are.
const partial = values.axes === 'remotes,bundle,fleet,uptime' ? '' : `-${[...axes].join('-')}`;
const out = join(BENCH, 'results', ...(partial ? ['partial'] : []));
await mkdir(out, { recursive: true });
const name = `${quick ? 'scale-quick' : 'scale'}${partial}`;
await writeFile(join(out, `${name}.json`), `${JSON.stringify(results, null, 2)}\n`);
const markdown = renderScaleMarkdown(results);
await writeFile(join(out, `${name}.md`), markdown);
await renderCharts(results, out, name);
console.log(`\n${markdown}`);
log(`wrote bench/results/${partial ? 'partial/' : ''}${name}.json, .md and charts in ${results['seconds']} s`);
if (!values.keep) await rm(root, { recursive: true, force: true });

/**
 * The bundle axis's pairs for one remote: `runs` times, each variant first in turn, a fresh host importing `<remote>/big`
 * and then `<remote>/second` (served at `url`, an empty cache each time) against the local app importing the same
 * texts from `bundles/<local>/`, and, `withFloor`, the floor importing them from `url` (the three in turn).
 */
async function bundlePair(
  of: { label: string; size: number; remote: string; local: string; url: string },
  withFloor: boolean,
) {
  const pair: Paired = { label: of.label, x: of.size, ferry: [], local: [], ...(withFloor ? { floor: [] } : {}) };
  const localDir = join(appRoot, 'bundles', of.local);
  for (let i = 0; i < runs; i++) {
    for (const variant of inTurn(i).filter((name) => withFloor || name !== 'floor')) {
      pair[variant]!.push(
        await child({
          kind: 'bundle',
          variant,
          root: appRoot,
          remotes: { [of.remote]: `${of.url}mf-manifest.json` },
          publicKey,
          cacheDir: join(root, 'bundle-cache', `${of.remote}-${i}`),
          files: [join(localDir, 'big.mjs')],
          specifiers: [`${of.remote}/big`],
          second: { files: [join(localDir, 'second.mjs')], specifiers: [`${of.remote}/second`] },
          ferry: FERRY,
        }),
      );
    }
    log(
      `bundle ${of.label} B run ${i + 1}/${runs}: import ferry ${pair.ferry.at(-1)!.importMs.toFixed(1)} ms, ` +
        `local ${pair.local.at(-1)!.importMs.toFixed(1)} ms; a second: ferry ` +
        `${pair.ferry.at(-1)!.secondMs?.toFixed(1)} ms, local ${pair.local.at(-1)!.secondMs?.toFixed(1)} ms` +
        (pair.floor
          ? `; floor ${pair.floor.at(-1)!.importMs.toFixed(1)}, ${pair.floor.at(-1)!.secondMs?.toFixed(1)} ms`
          : ''),
    );
  }
  return pair;
}

/** bench/scale-uptime.ts in its own process (it needs --expose-gc); its last JSON line. */
async function runUptime(
  swaps: number,
  args: string[],
  extra: string[] = [],
  env: Record<string, string> = {},
): Promise<unknown> {
  const proc = spawn(
    process.execPath,
    ['--expose-gc', ...args, join(BENCH, 'scale-uptime.ts'), '--swaps', `${swaps}`, ...extra],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } },
  );
  let out = '';
  proc.stdout.on('data', (chunk: Buffer) => {
    out += chunk;
  });
  const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
  const line = out.trim().split('\n').at(-1) ?? '';
  if (code !== 0 || !line.startsWith('{')) return { error: `exit ${code}: ${out.slice(-500)}` };
  return JSON.parse(line) as unknown;
}

export { summarize };
