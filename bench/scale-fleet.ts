/**
 * The fleet axis of bench/scale.ts: one remote server (createFerryServer with its push channel, its own process:
 * scale-fleet-server.ts) and N hosts subscribed to it, simulated as N independent createHost() instances spread over
 * host processes of at most 250 hosts each (scale-fleet-hosts.ts): each host has its own cache folder, its own
 * connections and its own event stream, as N services would; they share a process, a CPU and an event loop, which
 * makes the figures pessimistic (N real hosts would not queue behind each other).
 *
 * Measured: from the new manifest's mtime to every host serving the new version (its `activated` event, then its
 * live binding answering with it), for each of `swaps` builds one after another (the result is the median swap's,
 * with every swap's figure beside it); the server's RSS and open descriptors (/proc/<pid>/status, /proc/<pid>/fd)
 * before the hosts, with them connected, and the peak during the swap; the requests it received during the swap by
 * kind and status. With polling only (push off), the same, plus the idle load a poll interval puts on the server:
 * requests per second and its CPU time per second over a quiet window. Every child runs with its soft descriptor
 * limit raised to the hard limit (`ulimit -Sn $(ulimit -Hn)`).
 */

import { type ChildProcess, spawn } from 'node:child_process';
import type { KeyObject } from 'node:crypto';
import { copyFile, readdir, readFileSync, rename } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { promisify } from 'node:util';
import { publicKeyOf } from '../src/manifest/index.ts';
import { PRUNE_DELAY_MS } from '../src/runtime/cache/cache-prune.ts';
import { moduleSource, writeFerryRemote } from './scale-fixtures.ts';
import { BENCH, REPO } from './setup.ts';

export interface FleetResult {
  hosts: number;
  mode: 'push' | 'poll';
  pollIntervalMs?: number;
  hostProcesses: number;
  fdSoftLimit: number;
  /** ms from the manifest's mtime to each host activating (sorted) */
  latencyMs: { median: number; p95: number; max: number; activated: number; serving: number };
  /** where the time of the swap goes: the hosts' first check after the build, when they found it, CPU spent */
  breakdown: {
    firstCheckMs: { median: number; max: number };
    foundMs: { median: number; max: number };
    serverCpuMs: number;
    hostCpuMsPerHost: number;
  };
  refused: number;
  errors: string[];
  server: {
    rssMiB: { before: number; connected: number; peak: number };
    fds: { before: number; connected: number; peak: number };
    requestsDuringSwap: { total: number; byKind: Record<string, number>; byStatus: Record<string, number> };
    sockets: number;
    idle?: { requestsPerSecond: number; cpuMsPerSecond: number; windowSeconds: number };
  };
  setupSeconds: number;
  /**
   * Every swap's time from the manifest to all hosts serving, in the order they ran (one fleet, one build after
   * another); the other fields are those of the median swap.
   */
  swapsMs: number[];
  /** Every swap's peak server RSS (MiB), in the same order: the server's memory target takes the highest. */
  swapsPeakRssMiB: number[];
}

const PER_PROCESS = 250;
const FD_RAISE = 'ulimit -Sn "$(ulimit -Hn)"; exec "$0" "$@"';

interface Stats {
  requests: number;
  byKind: Record<string, number>;
  byStatus: Record<string, number>;
  sockets: number;
}

/** The lines a child process prints on stdout, one per `next()`, in order. */
export function lines(child: ChildProcess): { next(): Promise<string>; rl: Interface } {
  const rl = createInterface({ input: child.stdout! });
  const queue: string[] = [];
  const waiting: Array<(line: string) => void> = [];
  rl.on('line', (line) => {
    const resolve = waiting.shift();
    if (resolve) resolve(line);
    else queue.push(line);
  });
  return {
    rl,
    next: () => (queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise((resolve) => waiting.push(resolve))),
  };
}

const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const fds = (pid: number) => promisify(readdir)(`/proc/${pid}/fd`).then((list) => list.length);
const cpuMs = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime, clock ticks of 1/100 s
};

const median = (list: number[]) => [...list].sort((a, b) => a - b)[list.length >> 1] ?? Number.NaN;
/** CPU time of a host process (the bash wrapper execs node, so the child's pid is node's). */
const hostCpu = (child: ChildProcess) => (child.pid && child.exitCode === null ? cpuMs(child.pid) : 0);

/** Runs one fleet configuration end to end; every child is stopped before it resolves. */
export async function runFleet(options: {
  root: string;
  hosts: number;
  mode: 'push' | 'poll';
  privateKey: KeyObject;
  quick: boolean;
  log: (line: string) => void;
  /** How many builds, one after another, the fleet takes (default 1); the result is the median swap's. */
  swaps?: number;
}): Promise<FleetResult> {
  const { root, hosts, mode, privateKey, log } = options;
  const t0 = performance.now();
  const served = join(root, 'served');
  const publish = async (version: string, release: number) => {
    // A new build is laid out beside the served folder, then moved in: files first, the manifest last (as a deploy
    // of `ferry build` output would), so a host never sees a manifest whose files are missing.
    const staging = join(root, `staging-${release}`);
    const sources = { './x': moduleSource(7000 + release, 5_000, { shared: false, version }) };
    await writeFerryRemote(staging, { name: 'fleet', version, release, sources }, privateKey, { shared: false });
    await mkdir(served, { recursive: true });
    for (const name of await promisify(readdir)(staging)) {
      if (name !== 'mf-manifest.json') await promisify(copyFile)(join(staging, name), join(served, name));
    }
    await promisify(rename)(join(staging, 'mf-manifest.json'), join(served, 'mf-manifest.json'));
    return (await stat(join(served, 'mf-manifest.json'))).mtimeMs;
  };
  await publish('1.0.0', 1);
  const server = spawn(
    'bash',
    [
      '-c',
      FD_RAISE,
      process.execPath,
      join(BENCH, 'scale-fleet-server.ts'),
      served,
      join(REPO, 'dist', 'server', 'index.js'),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const serverLines = lines(server);
  const { url, pid } = JSON.parse(await serverLines.next()) as { url: string; pid: number };
  const stats = async (): Promise<Stats> => {
    server.stdin!.write('stats\n');
    return JSON.parse(await serverLines.next()) as Stats;
  };
  const fdSoftLimit = Number(readFileSync(`/proc/${pid}/limits`, 'utf8').match(/Max open files\s+(\d+)/)![1]);
  const before = { rss: rssMiB(pid), fds: await fds(pid) };
  const pollInterval = 1000;
  const children: ChildProcess[] = [];
  const childLines: Array<ReturnType<typeof lines>> = [];
  try {
    for (let first = 0; first < hosts; first += PER_PROCESS) {
      const job = {
        ferry: join(REPO, 'dist', 'index.js'),
        url: `${url}mf-manifest.json`,
        publicKey: publicKeyOf(privateKey),
        count: Math.min(PER_PROCESS, hosts - first),
        first,
        mode,
        pollInterval,
        cacheRoot: join(root, 'caches'),
      };
      const child = spawn(
        'bash',
        ['-c', FD_RAISE, process.execPath, join(BENCH, 'scale-fleet-hosts.ts'), JSON.stringify(job)],
        {
          stdio: ['pipe', 'pipe', 'inherit'],
        },
      );
      children.push(child);
      childLines.push(lines(child));
    }
    for (const child of childLines) {
      const line = await child.next();
      if (line !== 'ready') throw new Error(`fleet host process: ${line}`);
    }
    const setupSeconds = (performance.now() - t0) / 1000;
    // Let the streams settle (and, polling, measure the idle load over a window of a few intervals), and let each
    // host's first cache pruning, PRUNE_DELAY_MS after its first manifest, run before the build: a fleet whose
    // thousand hosts all started a second ago is the simulation's, not a deploy's (their pruning, ~1 ms of CPU each,
    // landed in the swap it measured until the sixth round).
    await new Promise((resolve) => setTimeout(resolve, PRUNE_DELAY_MS + 1500));
    let idle: FleetResult['server']['idle'];
    if (mode === 'poll') {
      const windowSeconds = options.quick ? 3 : 5;
      const [s0, c0] = [await stats(), cpuMs(pid)];
      await new Promise((resolve) => setTimeout(resolve, windowSeconds * 1000));
      const [s1, c1] = [await stats(), cpuMs(pid)];
      idle = {
        requestsPerSecond: (s1.requests - s0.requests) / windowSeconds,
        cpuMsPerSecond: (c1 - c0) / windowSeconds,
        windowSeconds,
      };
    }
    for (const child of children) child.stdin!.write('watch\n');
    // The host processes count refused updates since they started: each swap reports its own.
    let refusedBefore = 0;
    const swapOnce = async (swap: number): Promise<FleetResult> => {
      const connected = { rss: rssMiB(pid), fds: await fds(pid) };
      const peak = { ...connected };
      const sampler = setInterval(() => {
        peak.rss = Math.max(peak.rss, rssMiB(pid));
        fds(pid).then((n) => {
          peak.fds = Math.max(peak.fds, n);
        });
      }, 50);
      const s0 = await stats();
      const cpu0 = { server: cpuMs(pid), hosts: children.reduce((sum, child) => sum + hostCpu(child), 0) };
      // A minor version: hosts refuse a new major as a live update (the contract gate: a major may break the API).
      const version = `1.${swap}.0`;
      const mtime = await publish(version, swap + 1);
      for (const child of children) child.stdin!.write(`await ${version}\n`);
      const answers = await Promise.all(
        childLines.map(
          async (child) =>
            JSON.parse(await child.next()) as {
              times: number[];
              checked: number[];
              found: number[];
              serving: number;
              refused: number;
              errors: string[];
            },
        ),
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      clearInterval(sampler);
      const s1 = await stats();
      const cpu1 = { server: cpuMs(pid), hosts: children.reduce((sum, child) => sum + hostCpu(child), 0) };
      const firstAfter = (list: number[]) => list.filter((time) => time >= mtime).sort((a, b) => a - b);
      const checks = answers.flatMap((answer) => firstAfter(answer.checked)).map((time) => time - mtime);
      const founds = answers
        .flatMap((answer) => firstAfter(answer.found))
        .map((time) => time - mtime)
        .sort((a, b) => a - b);
      const latencies = answers.flatMap((answer) => answer.times.map((time) => time - mtime)).sort((a, b) => a - b);
      const byKind = Object.fromEntries(
        Object.entries(s1.byKind).map(([kind, n]) => [kind, n - (s0.byKind[kind] ?? 0)]),
      );
      const byStatus = Object.fromEntries(
        Object.entries(s1.byStatus).map(([status, n]) => [status, n - (s0.byStatus[status] ?? 0)]),
      );
      const result: FleetResult = {
        hosts,
        mode,
        ...(mode === 'poll' ? { pollIntervalMs: pollInterval } : {}),
        hostProcesses: children.length,
        fdSoftLimit,
        latencyMs: {
          median: latencies[latencies.length >> 1] ?? Number.NaN,
          p95: latencies[Math.floor(latencies.length * 0.95)] ?? Number.NaN,
          max: latencies.at(-1) ?? Number.NaN,
          activated: latencies.length,
          serving: answers.reduce((sum, answer) => sum + answer.serving, 0),
        },
        breakdown: {
          firstCheckMs: { median: median(checks), max: Math.max(...checks) },
          foundMs: { median: median(founds), max: founds.at(-1) ?? Number.NaN },
          serverCpuMs: cpu1.server - cpu0.server,
          hostCpuMsPerHost: (cpu1.hosts - cpu0.hosts) / hosts,
        },
        refused: answers.reduce((sum, answer) => sum + answer.refused, 0) - refusedBefore,
        errors: answers.flatMap((answer) => answer.errors).slice(0, 5),
        server: {
          rssMiB: { before: before.rss, connected: connected.rss, peak: peak.rss },
          fds: { before: before.fds, connected: connected.fds, peak: peak.fds },
          requestsDuringSwap: { total: s1.requests - s0.requests, byKind, byStatus },
          sockets: s1.sockets,
          ...(idle ? { idle } : {}),
        },
        setupSeconds: Math.round(setupSeconds * 10) / 10,
        swapsMs: [],
        swapsPeakRssMiB: [],
      };
      log(
        `fleet ${hosts} hosts, ${mode}, swap ${swap}: all ${result.latencyMs.serving}/${hosts} serving ${result.latencyMs.max.toFixed(0)} ms ` +
          `after the manifest (median ${result.latencyMs.median.toFixed(0)}); server RSS ${before.rss.toFixed(0)} -> ` +
          `${peak.rss.toFixed(0)} MiB, fds ${before.fds} -> ${peak.fds}; ${result.server.requestsDuringSwap.total} requests ` +
          `${JSON.stringify(byStatus)}` +
          `; first check median ${result.breakdown.firstCheckMs.median.toFixed(0)} ms, found median ` +
          `${result.breakdown.foundMs.median.toFixed(0)} max ${result.breakdown.foundMs.max.toFixed(0)} ms; CPU server ` +
          `${result.breakdown.serverCpuMs.toFixed(0)} ms, hosts ${result.breakdown.hostCpuMsPerHost.toFixed(1)} ms/host` +
          (idle ? `; idle ${idle.requestsPerSecond.toFixed(0)} req/s, ${idle.cpuMsPerSecond.toFixed(0)} ms CPU/s` : ''),
      );
      // A fleet that did not take the build measured nothing: say why, loudly, instead of a NaN in the report.
      if (result.refused > 0 || result.latencyMs.serving < hosts) {
        log(
          `WARNING fleet ${hosts} hosts, ${mode}: ${result.refused} update(s) refused, ${hosts - result.latencyMs.serving} ` +
            `host(s) not serving the new build; first errors: ${JSON.stringify(result.errors.slice(0, 2))}`,
        );
      }
      refusedBefore += result.refused;
      return result;
    };
    const results: FleetResult[] = [];
    for (let swap = 1; swap <= (options.swaps ?? 1); swap++) {
      // Between builds, the kept connections go idle and close, as between two deploys.
      if (swap > 1) await new Promise((resolve) => setTimeout(resolve, 3000));
      results.push(await swapOnce(swap));
    }
    const swapsMs = results.map((run) => run.latencyMs.max);
    const swapsPeakRssMiB = results.map((run) => run.server.rssMiB.peak);
    const result = [...results].sort((a, b) => a.latencyMs.max - b.latencyMs.max)[results.length >> 1]!;
    return { ...result, swapsMs, swapsPeakRssMiB };
  } finally {
    for (const child of children) child.stdin!.write('close\n');
    await Promise.all(
      children.map(
        (child) => new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(0))),
      ),
    );
    server.stdin!.write('close\n');
    await new Promise((resolve) => (server.exitCode === null ? server.once('exit', resolve) : resolve(0)));
  }
}
