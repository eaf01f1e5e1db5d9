/**
 * The scale benchmark's report (bench/scale.ts): one table per axis, every figure beside its baseline of the same run
 * (medians, ranges in brackets, ratios paired run by run), and the targets, met or missed.
 */
import type { Paired, Sample } from './scale.ts';
import type { FleetResult } from './scale-fleet.ts';
import { round, summarize, verdictCell } from './stats.ts';

export interface UptimeSample {
  swap: number;
  heapMiB: number;
  heapTotalMiB: number;
  rssMiB: number;
  externalMiB: number;
  codeSpaceMiB: number;
  /** What V8 reserved per heap space (`space_size`), when the run recorded it. */
  spacesMiB?: Record<string, number>;
}
/**
 * Where the uptime RSS is read as settled: V8 grows its young generation to its maximum within the first ~100 swaps
 * and keeps it (heapTotal 24 -> 82 MiB by swap 100, then flat), so RSS from here on shows what the swaps themselves
 * add.
 */
const SETTLED_SWAP = 100;

/** The first sample at or after {@link SETTLED_SWAP}, if the run went that far (and not only to there). */
function settledSample(samples: UptimeSample[]): UptimeSample | undefined {
  const sample = samples.find((s) => s.swap >= SETTLED_SWAP);
  return sample && sample !== samples.at(-1) ? sample : undefined;
}

/** The uptime run without ferry (bench/scale-uptime.ts --baseline), named as bench/scale.ts names it. */
export const UPTIME_BASELINE = 'baseline: node:vm, no ferry';
/** The uptime runs of a CommonJS remote (`--commonjs`), with ferry and without. */
export const UPTIME_COMMONJS = 'CommonJS remote';
export const UPTIME_COMMONJS_BASELINE = 'CommonJS baseline: node:vm, no ferry';

export interface UptimeRun {
  swaps: number;
  bytes: number;
  seconds: number;
  samples: UptimeSample[];
  error?: string;
}

const fmt = (values: number[]) => {
  if (values.length === 0) return '—';
  const s = summarize(values);
  return s.n === 1 ? `${round(s.median)}` : `${round(s.median)} (${round(s.min)}–${round(s.max)})`;
};
/** ferry ÷ local, run by run. */
export const pairedRatios = (pair: Paired, key: RatioKey) => ratiosOf(pair.ferry, pair.local, key);
type RatioKey = 'wallMs' | 'importMs' | 'secondMs' | 'rssMiB';
/** `a` ÷ `b`, run by run (ferry against local, the floor against local, ferry against the floor). */
const ratiosOf = (a: Sample[] | undefined, b: Sample[] | undefined, key: RatioKey) =>
  (a ?? [])
    .map((sample, i) => (sample[key] ?? Number.NaN) / (b?.[i]?.[key] ?? Number.NaN))
    .filter((value) => Number.isFinite(value));
const median = (values: number[]) => (values.length === 0 ? Number.NaN : summarize(values).median);
const ratioCell = (values: number[]) => (values.length === 0 ? '—' : `${fmt(values)}×`);
const table = (head: string[], rows: string[][]) =>
  [
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ].join('\n');

export function renderScaleMarkdown(results: Record<string, unknown>): string {
  const out: string[] = [
    `## Scale (issue 21) — ${results['generatedAt']}${results['quick'] ? ', --quick' : ''}`,
    '',
    `${results['runs']} runs per point (the remotes axis: ${results['remoteRuns'] ?? results['runs']}), interleaved (the order alternates), ${JSON.stringify(results['machine'])}, ` +
      `load average at the end ${JSON.stringify(results['loadavgAtEnd'])}, ${results['seconds']} s. Medians, ranges in ` +
      'brackets; ratios are paired (ferry ÷ local of the same run), then the median taken.',
    '',
  ];
  const targets: string[][] = [];
  const verdict = (ok: boolean) => (ok ? 'met' : '**missed**');
  // A figure measured run by run (a ratio, or the fleet's builds): judged on its median's interval, so that a median a
  // hair either side of the target on a noisy machine reads as what it is.
  const limitVerdict = (samples: number[], limit: number, unit = '×') =>
    samples.length === 0
      ? 'n/a'
      : verdictCell(samples, limit, 'at most', { met: verdict(true), missed: verdict(false) }, unit);

  const remotes = results['remotes'] as Record<'cold' | 'cache' | 'down', Paired[]> | undefined;
  if (remotes) {
    out.push('### 1. Remotes per host (3 exposes of ~20 KB each, one shared singleton)', '');
    const rows: string[][] = [];
    for (const phase of ['cold', 'cache', 'down'] as const) {
      for (const pair of remotes[phase]) {
        rows.push([
          pair.label,
          phase === 'cold'
            ? 'cold (empty cache)'
            : phase === 'cache'
              ? 'restart with the cache'
              : 'remotes down (cache)',
          fmt(pair.local.map((s) => s.wallMs)),
          fmt(pair.ferry.map((s) => s.wallMs)),
          `${fmt(pairedRatios(pair, 'wallMs'))}×`,
          fmt((pair.floor ?? []).map((s) => s.wallMs)),
          ratioCell(ratiosOf(pair.floor, pair.local, 'wallMs')),
          ratioCell(ratiosOf(pair.ferry, pair.floor, 'wallMs')),
          fmt(pair.local.map((s) => s.rssMiB)),
          fmt(pair.ferry.map((s) => s.rssMiB)),
        ]);
      }
    }
    out.push(
      table(
        [
          'remotes',
          'start',
          'local: spawn → all imported (ms)',
          'ferry (ms)',
          'ferry ÷ local',
          'floor: no ferry (ms)',
          'floor ÷ local',
          'ferry ÷ floor',
          'local RSS (MiB)',
          'ferry RSS (MiB)',
        ],
        rows,
      ),
      '',
      FLOOR_NOTE,
      '',
    );
    // Marginal cost per remote, from 10 to 50 remotes (medians).
    const slope = (pairs: Paired[], who: 'ferry' | 'local') => {
      const a = pairs.find((p) => p.x === 10);
      const b = pairs.find((p) => p.x === 50);
      if (!a || !b) return Number.NaN;
      return (median(b[who].map((s) => s.wallMs)) - median(a[who].map((s) => s.wallMs))) / 40;
    };
    const slopes = (['cold', 'cache', 'down'] as const).map(
      (phase) =>
        `${phase}: ferry ${round(slope(remotes[phase], 'ferry'))} ms, local ${round(slope(remotes[phase], 'local'))} ms`,
    );
    out.push(`Each remote beyond 10 (slope 10 → 50): ${slopes.join('; ')}.`, '');
    const ratiosAt50 = (phase: 'cold' | 'cache') => pairedRatios(remotes[phase].find((p) => p.x === 50)!, 'wallMs');
    const at50 = (phase: 'cold' | 'cache') => median(ratiosAt50(phase));
    if (remotes.cold.some((p) => p.x === 50)) {
      targets.push(['50 remotes ≤ 2× local, cold', `${round(at50('cold'))}×`, limitVerdict(ratiosAt50('cold'), 2)]);
      targets.push([
        '50 remotes ≤ 1.3× local, from cache',
        `${round(at50('cache'))}×`,
        limitVerdict(ratiosAt50('cache'), 1.3),
      ]);
      const floorAt50 = (phase: 'cold' | 'cache' | 'down') => {
        const pair = remotes[phase].find((p) => p.x === 50);
        return pair ? floorContext(pair, 'wallMs') : undefined;
      };
      if (remotes.cache.find((p) => p.x === 50)?.floor?.length) {
        targets.push([
          '50 remotes: the floor, the same work with no ferry (context for the two above)',
          `cold ${floorAt50('cold')}; from the cache ${floorAt50('cache')}; remotes down ${floorAt50('down')}`,
          'context',
        ]);
      }
      const perRemote = slope(remotes.cold, 'ferry');
      const small = remotes.cold.find((p) => p.x === 10);
      const linear = small ? perRemote <= (median(small.ferry.map((s) => s.wallMs)) / 10) * 1.5 : false;
      targets.push([
        'remotes: linear (each remote from 10 to 50 costs no more than the average of the first 10, +50 %)',
        `${round(perRemote)} ms per remote from 10 to 50; ${small ? round(median(small.ferry.map((s) => s.wallMs)) / 10) : '—'} ms average over the first 10`,
        verdict(linear),
      ]);
    }
  }

  const bundle = results['bundle'] as
    | {
        pairs: Paired[];
        verify: Array<{ bytes: number; rawMBps: number[]; ferryMBps: number[] }>;
        withMaps?: Paired[];
      }
    | undefined;
  if (bundle) {
    out.push('### 2. Bundle size (one expose of generated functions, classes and objects)', '');
    const rows = bundle.pairs.map((pair, k) => {
      const verify = bundle.verify[k]!;
      const share = verify.ferryMBps.map((value, i) => value / verify.rawMBps[i]!);
      return [
        `${round(pair.x / 1000)} KB`,
        fmt(pair.local.map((s) => s.importMs)),
        fmt(pair.ferry.map((s) => s.importMs)),
        fmt(pair.ferry.flatMap((s) => s.setupMs ?? [])),
        `${fmt(pairedRatios(pair, 'importMs'))}×`,
        pair.ferry.some((s) => s.setupMs === undefined)
          ? '—'
          : `${fmt(pair.ferry.map((s, i) => (s.importMs - s.setupMs!) / pair.local[i]!.importMs))}×`,
        fmt(pair.local.flatMap((s) => s.secondMs ?? [])),
        fmt(pair.ferry.flatMap((s) => s.secondMs ?? [])),
        ratioCell(pairedRatios(pair, 'secondMs')),
        ratioCell(ratiosOf(pair.floor, pair.local, 'importMs')),
        ratioCell(ratiosOf(pair.floor, pair.local, 'secondMs')),
        fmt(pair.local.map((s) => s.rssMiB)),
        fmt(pair.ferry.map((s) => s.rssMiB)),
        fmt(verify.rawMBps),
        fmt(verify.ferryMBps),
        fmt(share.map((value) => value * 100)),
      ];
    });
    out.push(
      table(
        [
          'expose',
          'local import (ms)',
          'ferry import, cold (ms)',
          'of which loading ferry + createHost (ms)',
          'ferry ÷ local',
          'ferry without that ÷ local',
          'a second expose of that size, same process: local (ms)',
          'ferry (ms)',
          'ferry ÷ local',
          'floor ÷ local: first import',
          'floor ÷ local: a second expose',
          'local RSS (MiB)',
          'ferry RSS (MiB)',
          'raw SHA-384 (MB/s)',
          'ferry file check (MB/s)',
          'check ÷ raw (%)',
        ],
        rows,
      ),
      '',
      FLOOR_NOTE,
      '',
    );
    if (bundle.withMaps && bundle.withMaps.length > 0) {
      out.push(
        'The same exposes with the source map a real `ferry build` writes beside each bundle (~0.9× its size, without ' +
          "the sources' content), which a cold import fetches, hashes and caches with the code; the local app reads none:",
        '',
        table(
          [
            'expose',
            'local import (ms)',
            'ferry import, cold (ms)',
            'ferry ÷ local',
            'a second expose: local (ms)',
            'ferry (ms)',
            'ferry ÷ local',
          ],
          bundle.withMaps.map((pair) => [
            `${round(pair.x / 1000)} KB + its map`,
            fmt(pair.local.map((s) => s.importMs)),
            fmt(pair.ferry.map((s) => s.importMs)),
            `${fmt(pairedRatios(pair, 'importMs'))}×`,
            fmt(pair.local.flatMap((s) => s.secondMs ?? [])),
            fmt(pair.ferry.flatMap((s) => s.secondMs ?? [])),
            ratioCell(pairedRatios(pair, 'secondMs')),
          ]),
        ),
        '',
      );
    }
    for (const [k, pair] of bundle.pairs.entries()) {
      if (pair.x < 1_000_000) continue;
      const ratios = pairedRatios(pair, 'importMs');
      const ratio = median(ratios);
      const verify = bundle.verify[k]!;
      const share = median(verify.ferryMBps.map((value, i) => value / verify.rawMBps[i]!));
      targets.push([
        `${round(pair.x / 1e6)} MB expose: import ≤ 1.2× local (a fresh process: its first import)`,
        `${round(ratio)}×`,
        limitVerdict(ratios, 1.2),
      ]);
      const second = pairedRatios(pair, 'secondMs');
      if (second.length > 0) {
        targets.push([
          `${round(pair.x / 1e6)} MB expose: import ≤ 1.2× local (a running host and app: a second expose of that size)`,
          `${round(median(second))}×`,
          limitVerdict(second, 1.2),
        ]);
      }
      if (pair.floor && pair.floor.length > 0) {
        targets.push([
          `${round(pair.x / 1e6)} MB expose: the floor, the same work with no ferry (context for the two above)`,
          `first import ${floorContext(pair, 'importMs')}; a second expose ${floorContext(pair, 'secondMs')}`,
          'context',
        ]);
      }
      const mapped = bundle.withMaps?.find((other) => other.x === pair.x);
      if (mapped) {
        const secondMapped = pairedRatios(mapped, 'secondMs');
        targets.push([
          `${round(pair.x / 1e6)} MB expose with its source map, as \`ferry build\` writes it (context for the two above)`,
          `first import ${round(median(pairedRatios(mapped, 'importMs')))}×` +
            (secondMapped.length > 0 ? `, a second expose ${round(median(secondMapped))}×` : ''),
          'context',
        ]);
      }
      targets.push([
        `${round(pair.x / 1e6)} MB: verification ≥ 80 % of raw SHA-384`,
        `${round(share * 100)} %`,
        verdict(share >= 0.8),
      ]);
    }
  }

  const fleet = results['fleet'] as FleetResult[] | undefined;
  if (fleet) {
    out.push('### 3. Fleet fan-out (one createFerryServer, N hosts)', '');
    out.push(
      table(
        [
          'hosts',
          'detection',
          'manifest written → all serving (ms)',
          'median / p95 (ms)',
          'first check after the build, median (ms)',
          'server RSS before → connected → peak (MiB)',
          'server fds before → peak',
          'requests during the swap',
          'CPU in the swap: server (ms), hosts (ms per host)',
          'idle polling load',
        ],
        fleet.map((run) => [
          `${run.hosts} (${run.hostProcesses} process${run.hostProcesses > 1 ? 'es' : ''})`,
          run.mode === 'push' ? 'push channel' : `polling every ${run.pollIntervalMs} ms`,
          `${round(run.latencyMs.max)} (${run.latencyMs.serving}/${run.hosts} serving)${swapsNote(run)}`,
          `${round(run.latencyMs.median)} / ${round(run.latencyMs.p95)}`,
          `${round(run.breakdown.firstCheckMs.median)}`,
          `${round(run.server.rssMiB.before)} → ${round(run.server.rssMiB.connected)} → ${round(run.server.rssMiB.peak)}`,
          `${run.server.fds.before} → ${run.server.fds.peak}`,
          `${run.server.requestsDuringSwap.total} ${JSON.stringify(run.server.requestsDuringSwap.byStatus)}; refused by hosts: ${run.refused}`,
          `${round(run.breakdown.serverCpuMs)}, ${round(run.breakdown.hostCpuMsPerHost)}`,
          run.server.idle
            ? `${round(run.server.idle.requestsPerSecond)} req/s, ${round(run.server.idle.cpuMsPerSecond)} ms CPU/s`
            : '—',
        ]),
      ),
      '',
    );
    const big = fleet.find((run) => run.hosts === 1000 && run.mode === 'push');
    if (big) {
      targets.push([
        '1,000 hosts all serving within 2 s (push)',
        `${round(big.latencyMs.max)} ms${swapsNote(big)}`,
        limitVerdict(big.swapsMs?.length ? big.swapsMs : [big.latencyMs.max], 2000, ' ms'),
      ]);
      // What the swap needs of this machine: every host's activation and the server's share, spread over its cores
      // (the simulation runs them all on this one machine, so the figure above cannot be lower).
      const cores = (results['machine'] as { cores?: number } | undefined)?.cores ?? 1;
      const cpuFloorMs = (big.hosts * big.breakdown.hostCpuMsPerHost + big.breakdown.serverCpuMs) / cores;
      targets.push([
        "1,000 hosts (push): the CPU the swap needs, spread over this machine's cores (context for the target above)",
        `${round(cpuFloorMs)} ms: ${big.hosts} activations at ${round(big.breakdown.hostCpuMsPerHost)} ms and the ` +
          `server's ${round(big.breakdown.serverCpuMs)} ms, on ${cores} cores`,
        'context',
      ]);
      // The highest peak of the builds the fleet took, not the median swap's.
      const growth = Math.max(big.server.rssMiB.peak, ...(big.swapsPeakRssMiB ?? [])) - big.server.rssMiB.before;
      targets.push(['server under +150 MiB RSS (1,000 hosts)', `+${round(growth)} MiB`, verdict(growth < 150)]);
      const refusedRequests = Object.entries(big.server.requestsDuringSwap.byStatus)
        .filter(([status]) => Number(status) >= 400)
        .reduce((sum, [, n]) => sum + n, 0);
      targets.push([
        'no request refused (1,000 hosts)',
        `${refusedRequests} answered ≥ 400, ${big.refused} updates refused by hosts`,
        verdict(refusedRequests === 0 && big.refused === 0),
      ]);
    }
  }

  const uptime = results['uptime'] as Record<string, UptimeRun> | undefined;
  if (uptime) {
    out.push('### 4. Uptime (live swaps of a ~200 KB remote in one host process)', '');
    const rows = Object.entries(uptime).map(([name, run]) => {
      if (run.error || !run.samples) return [name, run.error ?? 'failed', '', '', '', '', '', ''];
      const first = run.samples[0]!;
      const last = run.samples.at(-1)!;
      const peak = Math.max(...run.samples.map((s) => s.rssMiB));
      const settled = settledSample(run.samples);
      return [
        `${name} (${run.swaps} swaps, ${round(run.seconds)} s)`,
        `${round(first.heapMiB)} → ${round(last.heapMiB)} (${round(last.heapMiB - first.heapMiB)})`,
        `${round(first.heapTotalMiB)} → ${round(last.heapTotalMiB)}`,
        first.spacesMiB && last.spacesMiB
          ? `${round(first.spacesMiB['new_space'] ?? 0)} → ${round(last.spacesMiB['new_space'] ?? 0)}`
          : '—',
        `${round(first.rssMiB)} → ${round(last.rssMiB)} (+${round(last.rssMiB - first.rssMiB)}; peak ${round(peak)})`,
        settled ? `${round(settled.rssMiB)} → ${round(last.rssMiB)} (+${round(last.rssMiB - settled.rssMiB)})` : '—',
        `${round(first.codeSpaceMiB)} → ${round(last.codeSpaceMiB)}`,
        `${round(first.externalMiB)} → ${round(last.externalMiB)}`,
      ];
    });
    out.push(
      table(
        [
          'run',
          'heap after GC (MiB)',
          'V8 heap reserved (heapTotal, MiB)',
          'of which the young generation (new space, MiB)',
          'RSS (MiB)',
          `RSS from swap ${SETTLED_SWAP} on (MiB)`,
          'code space (MiB)',
          'external (MiB)',
        ],
        rows,
      ),
      '',
    );
    const run = uptime['default'];
    if (run?.samples) {
      const first = run.samples[0]!;
      const last = run.samples.at(-1)!;
      targets.push([
        `uptime: heap growth < 5 MiB after ${run.swaps} swaps`,
        `${round(last.heapMiB - first.heapMiB)} MiB`,
        verdict(last.heapMiB - first.heapMiB < 5),
      ]);
      targets.push([
        `uptime: RSS growth < 30 MiB after ${run.swaps} swaps (default V8 settings)`,
        `+${round(last.rssMiB - first.rssMiB)} MiB`,
        verdict(last.rssMiB - first.rssMiB < 30),
      ]);
    }
    const settled = run?.samples ? settledSample(run.samples) : undefined;
    if (run?.samples && settled) {
      const growth = run.samples.at(-1)!.rssMiB - settled.rssMiB;
      targets.push([
        `uptime: RSS growth < 30 MiB from swap ${settled.swap} to ${run.swaps} (default V8 settings, after V8 sized its heap)`,
        `+${round(growth)} MiB`,
        verdict(growth < 30),
      ]);
    }
    const baseline = uptime[UPTIME_BASELINE];
    if (run?.samples && baseline?.samples) {
      const growth = (r: UptimeRun) => r.samples.at(-1)!.rssMiB - r.samples[0]!.rssMiB;
      targets.push([
        `uptime: RSS growth after ${run.swaps} swaps, ferry against the baseline (the same versions compiled and run with node:vm, no ferry; no target of its own: context for the one above)`,
        `ferry +${round(growth(run))} MiB, baseline +${round(growth(baseline))} MiB: ferry's part ${round(growth(run) - growth(baseline))} MiB`,
        'context',
      ]);
    }
    const commonjs = uptime[UPTIME_COMMONJS];
    const commonjsBaseline = uptime[UPTIME_COMMONJS_BASELINE];
    if (commonjs?.samples && commonjsBaseline?.samples) {
      const growth = (r: UptimeRun) => r.samples.at(-1)!.rssMiB - r.samples[0]!.rssMiB;
      const heap = commonjs.samples.at(-1)!.heapMiB - commonjs.samples[0]!.heapMiB;
      targets.push([
        `uptime, a CommonJS remote (loaded through its container): heap and RSS growth after ${commonjs.swaps} swaps, against the same versions compiled and run as CommonJS without ferry (context for the two targets above)`,
        `heap ${round(heap)} MiB; RSS ferry +${round(growth(commonjs))} MiB, baseline +${round(growth(commonjsBaseline))} MiB: ferry's part ${round(growth(commonjs) - growth(commonjsBaseline))} MiB`,
        'context',
      ]);
    }
    const capped = uptime['max-semi-space-size=2'];
    if (capped?.samples) {
      const growth = capped.samples.at(-1)!.rssMiB - capped.samples[0]!.rssMiB;
      targets.push([
        `uptime: RSS growth < 30 MiB, node --max-semi-space-size=2`,
        `+${round(growth)} MiB`,
        verdict(growth < 30),
      ]);
    }
  }

  if (targets.length > 0) out.push('### Targets (issue 21)', '', table(['target', 'figure', 'verdict'], targets), '');
  return `${out.join('\n')}\n`;
}

/** What the floor is, under each table that has it. */
const FLOOR_NOTE =
  'The floor (scale-host.ts, `floorHost`) does the least that any host loading signed code over HTTP must do, with ' +
  "Node's own primitives and no ferry: the manifest and its signature (from the cache: one conditional request, " +
  "or a refused connection when the remote is down, then the copy on disk), the Ed25519 signature, each file's size " +
  'and SHA-384, node:vm to compile and run, the shared package from node_modules. It writes no cache and has no ' +
  'deadlines, retries, warnings, release floors or live updates: ferry ÷ floor is what those cost, floor ÷ local what ' +
  'loading code over HTTP costs on this machine at all.';

/** "floor X× local, ferry Y× the floor" for one pair (medians of the run-by-run ratios), or "—" without a floor. */
function floorContext(pair: Paired, key: 'wallMs' | 'importMs' | 'secondMs'): string {
  const toLocal = ratiosOf(pair.floor, pair.local, key);
  if (toLocal.length === 0) return '—';
  return `floor ${round(median(toLocal))}× local, ferry ${round(median(ratiosOf(pair.ferry, pair.floor, key)))}× the floor`;
}

/** For a fleet that took several builds one after another: which swap the row shows, and all of them. */
function swapsNote(run: FleetResult): string {
  const swaps = run.swapsMs ?? [];
  return swaps.length > 1
    ? `; the median of ${swaps.length} builds: ${swaps.map((ms) => round(ms)).join(', ')} ms`
    : '';
}
