/**
 * The bench's results: their JSON shape, the figures derived from them (medians with min/max, ratios to the
 * local baseline paired within each run), the issue's targets, and the markdown table.
 *
 * @example
 * ```ts
 * await writeFile('bench/results/latest.md', renderMarkdown(results));
 * ```
 */
import type { CompileCost, VerifyCost } from './micro.ts';
import type { FetchCounts } from './remote-server.ts';
import { ratio, round, type Summary, summarize, verdictCell } from './stats.ts';

export type VariantName = 'local' | 'ferry' | 'webpack';
/** The builds timed: webpack's, ferry's as the demo configures it, and ferry's with `dts: false`. */
export type BuildVariant = 'webpack' | 'ferry' | 'ferryNoDts' | 'ferryNoCache';

/** One live update: from the new manifest's mtime to the first /profile answer from the new validator. */
export interface LiveUpdateRun {
  run: number;
  latencyMs: number;
  requestsDuringSwap: number;
  /** Answers other than 200 while the update happened (must be 0). */
  failedRequests: number;
}

/** bench/soak.ts's result (its JSON line), and whether it passed (heap growth < 5 MiB, no listener left). */
export interface SoakResult {
  versions: number;
  passed: boolean;
  seconds?: number;
  heapAfterGcMiB?: { baseline: number; peak: number; final: number; growth: number };
  processListenersLeft?: number;
  error?: string;
}

/** One host start of one variant in one run. */
export interface VariantRun {
  run: number;
  variant: VariantName;
  coldStartMs: number;
  rssMiB: number;
  fetched?: FetchCounts;
  load?: { rps: number; non2xx: number; errors: number; latencyP50: number; latencyP99: number };
}

/** An instrumented ferry start (ferry-instrument.ts). */
export interface InstrumentedStart {
  coldStartMs: number;
  importMs: number;
  compile: { filename: string; ms: number }[];
  fetches: { url: string; bytes: number; durationMs: number }[];
}

/** Everything one bench run measured: bench/results/latest.json. */
export interface Results {
  generatedAt: string;
  quick: boolean;
  settings: { runs: number; autocannon: { seconds: number; connections: number }; path: string };
  machine: {
    cpu: string;
    cores: number;
    memoryGiB: number;
    node: string;
    v8: string;
    os: string;
    loadavgAtEnd: number[];
  };
  webpack: { included: boolean; why?: string };
  buildMs: Record<BuildVariant, number[]>;
  /** bench/build-phases.ts: milliseconds per phase of `ferry build`, one record per run. */
  buildPhases: Record<string, number>[];
  /** `ferry build` of the demo remote (`few` kept releases) and of a copy with `extra` more kept releases. */
  historyMs?: { few: number[]; many: number[]; extra: number };
  webpackHostBuildMs: number | undefined;
  distBytes: { ferry: number; webpack?: number };
  /** Cold starts with the remotes up (fresh ferry cache folder each). */
  hostRuns: VariantRun[];
  /** Restarts with the remotes up: local again, and ferry with the cache its cold start of the same run left. */
  warmRuns?: VariantRun[];
  /** Starts with the remotes stopped: local again, and ferry from the cache its cold start of the same run left. */
  fromCacheRuns: VariantRun[];
  /** The webpack host's start with its remote stopped, per run: it exits. */
  webpackDown: { code: number | null; ms: number; stderr: string }[];
  liveUpdates: LiveUpdateRun[];
  soak: SoakResult;
  instrumented: unknown[];
  verify: VerifyCost;
  /** Compile cost of the files the host compiles at start-up, and of every JavaScript file of the build. */
  compile: { startup: CompileCost; all: CompileCost };
  notes: string[];
  benchSeconds: number;
}

/** A figure per variant, and paired ratios to the local run of the same iteration. */
interface Figure {
  by: Partial<Record<VariantName, Summary>>;
  ratioToLocal: Partial<Record<VariantName, Summary>>;
  diffToLocal: Partial<Record<VariantName, Summary>>;
}

function figure(runs: readonly VariantRun[], pick: (run: VariantRun) => number | undefined): Figure {
  const result: Figure = { by: {}, ratioToLocal: {}, diffToLocal: {} };
  const value = (variant: VariantName, run: number) => {
    const found = runs.find((r) => r.variant === variant && r.run === run);
    return found ? pick(found) : undefined;
  };
  for (const variant of ['local', 'ferry', 'webpack'] as const) {
    const samples = runs.filter((r) => r.variant === variant).map(pick);
    const present = samples.filter((v): v is number => v !== undefined);
    if (present.length === 0) continue;
    result.by[variant] = summarize(present);
    const ratios: number[] = [];
    const diffs: number[] = [];
    for (const run of new Set(runs.map((r) => r.run))) {
      const mine = value(variant, run);
      const base = value('local', run);
      const r = ratio(mine, base);
      if (r !== undefined) ratios.push(r);
      if (mine !== undefined && base !== undefined) diffs.push(mine - base);
    }
    if (ratios.length > 0) result.ratioToLocal[variant] = summarize(ratios);
    if (diffs.length > 0) result.diffToLocal[variant] = summarize(diffs);
  }
  return result;
}

/** The figures the README and the targets use, computed from the raw results. */
export function derive(results: Results) {
  const runs = results.hostRuns;
  const cold = figure(runs, (r) => r.coldStartMs);
  const rss = figure(runs, (r) => r.rssMiB);
  const rps = figure(runs, (r) => r.load?.rps);
  const bytes = figure(runs, (r) => r.fetched?.wireBytes);
  const requests = figure(runs, (r) => r.fetched?.requests);
  const b = results.buildMs;
  // Paired by run: webpack's time over ferry's in the same iteration.
  const speedup = (ferry: number[]) =>
    b.webpack.length ? summarize(ferry.map((ms, i) => ratio(b.webpack[i], ms) ?? Number.NaN)) : undefined;
  const build = {
    ferry: b.ferry.length ? summarize(b.ferry) : undefined,
    ferryNoDts: b.ferryNoDts.length ? summarize(b.ferryNoDts) : undefined,
    ferryNoCache: b.ferryNoCache?.length ? summarize(b.ferryNoCache) : undefined,
    webpack: b.webpack.length ? summarize(b.webpack) : undefined,
    speedup: speedup(b.ferry),
    speedupNoDts: speedup(b.ferryNoDts),
    speedupNoCache: b.ferryNoCache?.length ? speedup(b.ferryNoCache) : undefined,
  };
  const fromCache = figure(results.fromCacheRuns, (r) => r.coldStartMs);
  const warm = figure(results.warmRuns ?? [], (r) => r.coldStartMs);
  const warmBytes = figure(results.warmRuns ?? [], (r) => r.fetched?.wireBytes);
  const warmRequests = figure(results.warmRuns ?? [], (r) => r.fetched?.requests);
  const webpackDown = results.webpackDown.length
    ? {
        ms: summarize(results.webpackDown.map((d) => d.ms)),
        codes: [...new Set(results.webpackDown.map((d) => d.code))],
      }
    : undefined;
  const live = results.liveUpdates.length
    ? {
        latencyMs: summarize(results.liveUpdates.map((u) => u.latencyMs)),
        failed: results.liveUpdates.reduce((sum, u) => sum + u.failedRequests, 0),
        requests: results.liveUpdates.reduce((sum, u) => sum + u.requestsDuringSwap, 0),
      }
    : undefined;
  const of = (list: readonly VariantRun[], variant: VariantName) => list.filter((r) => r.variant === variant);
  const coldFerryToWebpack = pairedRatio(of(runs, 'ferry'), of(runs, 'webpack'), (r) => r.coldStartMs);
  const instrumented = results.instrumented as InstrumentedStart[];
  const share = instrumented.length
    ? {
        coldStartMs: summarize(instrumented.map((s) => s.coldStartMs)),
        importMs: summarize(instrumented.map((s) => s.importMs)),
        compileMs: summarize(instrumented.map((s) => s.compile.reduce((sum, c) => sum + c.ms, 0))),
        fetchMs: summarize(instrumented.map((s) => s.fetches.reduce((sum, f) => sum + f.durationMs, 0))),
        compileShareOfColdStart: summarize(
          instrumented.map((s) => s.compile.reduce((sum, c) => sum + c.ms, 0) / s.coldStartMs),
        ),
      }
    : undefined;
  // The local app's second start of each run (the remote-down phase) over its first: the noise floor of a ratio.
  const localAgain = (pick: (run: VariantRun) => number | undefined) =>
    pairedRatio(of(results.fromCacheRuns, 'local'), of(runs, 'local'), pick);
  const noise = { cold: localAgain((r) => r.coldStartMs), rps: localAgain((r) => r.load?.rps) };
  return {
    cold,
    rss,
    rps,
    bytes,
    requests,
    build,
    coldFerryToWebpack,
    share,
    warm,
    warmBytes,
    warmRequests,
    fromCache,
    webpackDown,
    live,
    noise,
  };
}

/** `pick(x) / pick(y)` for each run of `xs` that `ys` has too (same `run`), summarized. */
function pairedRatio(
  xs: readonly VariantRun[],
  ys: readonly VariantRun[],
  pick: (run: VariantRun) => number | undefined,
): Summary | undefined {
  const ratios: number[] = [];
  for (const x of xs) {
    const y = ys.find((r) => r.run === x.run);
    const value = y ? ratio(pick(x), pick(y)) : undefined;
    if (value !== undefined) ratios.push(value);
  }
  return ratios.length ? summarize(ratios) : undefined;
}

const show = (s: Summary | undefined, unit = '') =>
  s === undefined ? '—' : `${round(s.median)}${unit} (${round(s.min)}–${round(s.max)})`;
const showRatio = (s: Summary | undefined) =>
  s === undefined ? '—' : `${round(s.median)}× (${round(s.min)}–${round(s.max)})`;
const verdict = (met: boolean | undefined) => (met === undefined ? 'n/a' : met ? '**met**' : '**missed**');

/**
 * A figure measured run by run against its target, judged on the median's interval (stats.ts `judge`): met or missed
 * when the whole interval is on one side of the target, at the line when it holds the target.
 */
function judged(s: Summary | undefined, limit: number, direction: 'at most' | 'at least', unit = '×'): string {
  return s === undefined
    ? verdict(undefined)
    : verdictCell(s.samples, limit, direction, { met: verdict(true), missed: verdict(false) }, unit);
}

/** The markdown report: machine, the figures table, the targets, and the breakdowns. */
export function renderMarkdown(results: Results): string {
  const d = derive(results);
  const m = results.machine;
  const lines: string[] = [];
  lines.push(`# ferry benchmarks${results.quick ? ' (quick mode: indicative only)' : ''}`, '');
  lines.push(
    `${results.generatedAt} · ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB · Node ${m.node} (V8 ${m.v8}) · ` +
      `${m.os} · load average at end ${m.loadavgAtEnd.join(' / ')} · ${results.settings.runs} interleaved runs · ` +
      `autocannon ${results.settings.autocannon.seconds} s × ${results.settings.autocannon.connections} ` +
      `connections on GET ${results.settings.path} · bench took ${results.benchSeconds} s`,
    '',
  );
  lines.push('Median (min–max) over the runs; ratios are paired within each run, then the median is taken.', '');
  lines.push('| figure | local require | ferry | webpack + MF node | ferry ÷ local | webpack ÷ local |');
  lines.push('|---|---|---|---|---|---|');
  lines.push(
    `| remote build, wall (ms) | — | ${show(d.build.ferry)} | ${show(d.build.webpack)} | ` +
      `webpack ÷ ferry: ${showRatio(d.build.speedup)} | — |`,
    `| remote build without type declarations (\`dts: false\`), wall (ms) | — | ${show(d.build.ferryNoDts)} | — | ` +
      `webpack ÷ ferry: ${showRatio(d.build.speedupNoDts)} | — |`,
    `| remote build without the fallback cache (\`--no-cache\`: what a first build pays), wall (ms) | — | ` +
      `${show(d.build.ferryNoCache)} | — | webpack ÷ ferry: ${showRatio(d.build.speedupNoCache)} | — |`,
  );
  const row = (name: string, f: ReturnType<typeof derive>['cold'], unit = '', webpackCell?: string) =>
    `| ${name} | ${show(f.by.local, unit)} | ${show(f.by.ferry, unit)} | ${webpackCell ?? show(f.by.webpack, unit)} | ` +
    `${showRatio(f.ratioToLocal.ferry)} | ${webpackCell ? '—' : showRatio(f.ratioToLocal.webpack)} |`;
  lines.push(row('cold start to first 200 on /profile, remote up (ms)', d.cold));
  if (d.warm.by.ferry) {
    lines.push(
      row(
        'restart with the cache of the cold start, remote up (ms; ferry revalidates: ' +
          `${show(d.warmBytes.by.ferry)} bytes in ${show(d.warmRequests.by.ferry)} requests)`,
        d.warm,
        '',
        'no cache (a restart is a cold start)',
      ),
    );
  }
  const down = d.webpackDown;
  lines.push(
    row(
      'start to first 200 with the remote down (ms; ferry from its cache)',
      d.fromCache,
      '',
      down ? `exits (code ${down.codes.join(', ')}) after ${show(down.ms, ' ms')}` : '—',
    ),
  );
  lines.push(row('RSS after first 200 (MiB)', d.rss));
  lines.push(
    `| RSS above local (MiB) | — | ${show(d.rss.diffToLocal.ferry)} | ${show(d.rss.diffToLocal.webpack)} | — | — |`,
  );
  lines.push(row('requests per second', d.rps));
  lines.push(
    `| bytes fetched at start-up (on the wire) | 0 | ${show(d.bytes.by.ferry)} in ${show(d.requests.by.ferry)} requests | ` +
      `${show(d.bytes.by.webpack)} in ${show(d.requests.by.webpack)} requests | — | — |`,
  );
  lines.push(
    `| remote build output (bytes) | — | ${results.distBytes.ferry} | ${results.distBytes.webpack ?? '—'} | — | — |`,
  );
  const v = results.verify;
  const cs = results.compile.startup;
  lines.push(
    `| signature + hash verification per load (µs) | — | ${show(summarize(v.totalUs))} | none | — | — |`,
    `| compiling remote code at start-up, without → with V8 code cache (ms) | — | ` +
      `${show(summarize(cs.coldMs))} → ${show(summarize(cs.cachedMs))} | — | — | — |`,
    `| new manifest served → host serves it (ms) | — | ${d.live ? `${show(d.live.latencyMs)}; ${d.live.failed} of ${d.live.requests} requests failed during the swaps` : '—'} | never (restart) | — | — |`,
    `| heap growth over ${results.soak.versions} version swaps (MiB after GC) | — | ${soakCell(results.soak)} | — | — | — |`,
    '',
  );

  const fromCacheFerry = d.fromCache.ratioToLocal.ferry;
  const targets: [string, string, string][] = [
    [
      'Remote build ≥ 10× faster than webpack',
      `${showRatio(d.build.speedup)} faster (without d.ts: ${showRatio(d.build.speedupNoDts)}; without the fallback ` +
        `cache: ${showRatio(d.build.speedupNoCache)})`,
      judged(d.build.speedup, 10, 'at least'),
    ],
    [
      'Cold start ≤ 1.15× local',
      showRatio(d.cold.ratioToLocal.ferry),
      judged(d.cold.ratioToLocal.ferry, 1.15, 'at most'),
    ],
    ['Cold start ≤ 0.6× webpack', showRatio(d.coldFerryToWebpack), judged(d.coldFerryToWebpack, 0.6, 'at most')],
    [
      'Start from cache, remote down: works, ≤ 1.1× local',
      fromCacheFerry
        ? `works in ${d.fromCache.by.ferry?.n ?? 0} of ${results.settings.runs} runs; ${showRatio(fromCacheFerry)}`
        : 'did not work',
      fromCacheFerry && d.fromCache.by.ferry?.n === results.settings.runs
        ? judged(fromCacheFerry, 1.1, 'at most')
        : verdict(false),
    ],
    [
      'RSS ≤ 8 MiB above local',
      `${show(d.rss.diffToLocal.ferry, ' MiB')} above`,
      judged(d.rss.diffToLocal.ferry, 8, 'at most', ' MiB'),
    ],
    [
      'Requests per second ≥ 0.98× local',
      showRatio(d.rps.ratioToLocal.ferry),
      judged(d.rps.ratioToLocal.ferry, 0.98, 'at least'),
    ],
  ];
  lines.push('## Targets (issue 8), ferry', '', '| target | figure | verdict |', '|---|---|---|');
  for (const [target, value, outcome] of targets) lines.push(`| ${target} | ${value} | ${outcome} |`);
  lines.push('');
  if (d.noise.cold || d.noise.rps) {
    lines.push(
      '## Noise: the same app measured twice in each run',
      '',
      'The local baseline is started a second time in every run (in the remote-down phase) and loaded the same way. ' +
        'Its second figure over its first is what a ratio of two identical apps looks like on this machine: ' +
        `cold start ${showRatio(d.noise.cold)}, requests per second ${showRatio(d.noise.rps)}. ` +
        "A ferry ratio inside that band cannot be told apart from the baseline's own spread.",
      '',
    );
  }

  if (results.buildPhases.length > 0) {
    lines.push(
      '## Where `ferry build` spends its time',
      '',
      `bench/build-phases.ts: the build's own steps, in \`buildRemote()\`'s order, in a fresh process in the demo remote's ` +
        `folder, ${results.buildPhases.length} times (ms):`,
      '',
      '| phase | ms |',
      '|---|---|',
    );
    for (const phase of Object.keys(results.buildPhases[0]!)) {
      const samples = results.buildPhases.map((p) => p[phase]).filter((x): x is number => x !== undefined);
      lines.push(`| ${phase} | ${show(summarize(samples))} |`);
    }
    lines.push('');
  }
  const history = results.historyMs;
  if (history && history.few.length > 0 && history.many.length > 0) {
    const few = summarize(history.few);
    const many = summarize(history.many);
    const slope = (many.median - few.median) / history.extra;
    lines.push(
      `A build against the output folder's history (every build keeps a release, and reads the kept ones): the demo ` +
        `remote ${show(few, ' ms')}, a copy with ${history.extra} more kept releases ${show(many, ' ms')}, ` +
        `alternating: ${slope.toFixed(3)} ms per kept release.`,
      '',
    );
  }
  lines.push('## Where ferry spends its start-up, and what the V8 code cache saves', '');
  if (d.share) {
    lines.push(
      `Instrumented ferry starts (separate from the timed ones): cold start ${show(d.share.coldStartMs, ' ms')}, ` +
        `of which host.import ${show(d.share.importMs, ' ms')} (ferry:import:end durationMs), fetching ` +
        `${show(d.share.fetchMs, ' ms')} (ferry:fetch, summed over parallel requests), compiling remote code with ` +
        `node:vm ${show(d.share.compileMs, ' ms')} = ${show(mapSummary(d.share.compileShareOfColdStart, 100), ' %')} ` +
        'of the cold start.',
      '',
    );
  }
  const ca = results.compile.all;
  const outcomes = (c: CompileCost) =>
    Object.entries(c.outcomes)
      .map(([outcome, n]) => `${n} ${outcome}`)
      .join(', ');
  lines.push(
    `Compiling in a fresh process, without and with a V8 code cache (bench/code-cache.ts, which the runtime does not use; read ` +
      `from disk included): the ${cs.files.length} files the host compiles at start-up (${cs.files.join(', ')}, ` +
      `${cs.bytes} bytes) ${show(summarize(cs.coldMs), ' ms')} → ${show(summarize(cs.cachedMs), ' ms')} ` +
      `(${outcomes(cs)}); every JavaScript file of the build (${ca.files.length} files, ${ca.bytes} bytes, with ` +
      `the shared-package fallbacks) ${show(summarize(ca.coldMs), ' ms')} → ${show(summarize(ca.cachedMs), ' ms')} ` +
      `(${outcomes(ca)}).`,
    '',
    `Verification per load: Ed25519 signature + canonical check ${show(summarize(v.signatureUs), ' µs')}, ` +
      `parseManifest ${show(summarize(v.parseUs), ' µs')}, sha384 of the manifest and ${v.files.join(', ')} ` +
      `(${v.bytesHashed} bytes in all) ${show(summarize(v.hashUs), ' µs')}.`,
    '',
  );

  lines.push('## Remote down at host start', '');
  lines.push(
    `- ferry: each run starts the demo host again with the cache folder its cold start left and the remote stopped; ` +
      `first 200 after ${show(d.fromCache.by.ferry, ' ms')} (${showRatio(fromCacheFerry)} the local baseline ` +
      `started in the same phase, ${show(d.fromCache.by.local, ' ms')}).`,
  );
  if (results.webpackDown.length > 0) {
    const w = results.webpackDown[0]!;
    lines.push(
      `- webpack: the host exits (codes ${down?.codes.join(', ')}) after ${show(down?.ms, ' ms')} ` +
        `(${w.stderr.replace(/\|/g, '/')}).`,
    );
  }
  lines.push('');
  if (d.live) {
    lines.push(
      '## Live update',
      '',
      `A ferry host serves version N; \`ferry build\` of a changed validator writes version N+1 into the folder the ` +
        `remote serves (every file, then the manifest, then its signature); the remote announces it on \`mf-manifest.events\`. ` +
        `From the new manifest's mtime to the first /profile answer from the new validator (a client calls /profile ` +
        `back to back): ${show(d.live.latencyMs, ' ms')} over ${results.liveUpdates.length} updates; ` +
        `${d.live.failed} of ${d.live.requests} requests during the updates were not 200.`,
      '',
    );
  }
  const soak = results.soak;
  lines.push(
    '## Heap across version swaps',
    '',
    `bench/soak.ts (\`node --expose-gc --max-old-space-size=64\`), ${soak.versions} versions of a remote that ` +
      'allocates ~1 MB, sets an interval and adds a `process` listener, each activated with host.update() and ' +
      `called through a live binding: ${soakCell(soak)}; ${soak.passed ? 'passed' : 'FAILED'} (limit: growth < 5 MiB, ` +
      'no listener left). `npm run soak` runs 500 versions.',
    '',
  );
  if (!results.webpack.included) lines.push(`webpack variant not included: ${results.webpack.why}`, '');
  if (results.webpackHostBuildMs !== undefined) {
    lines.push(`webpack host build (once, not a target): ${round(results.webpackHostBuildMs)} ms.`, '');
  }
  for (const note of results.notes) lines.push(`Note: ${note}`, '');
  return `${lines.join('\n').trimEnd()}\n`;
}

function soakCell(soak: SoakResult): string {
  const heap = soak.heapAfterGcMiB;
  if (!heap) return `did not run (${(soak.error ?? '').slice(0, 120)})`;
  return (
    `${round(heap.growth)} (after warm-up ${round(heap.baseline)}, peak ${round(heap.peak)}, final ` +
    `${round(heap.final)}; ${soak.processListenersLeft} listener left)`
  );
}

function mapSummary(s: Summary, factor: number): Summary {
  return summarize(s.samples.map((x) => x * factor));
}
