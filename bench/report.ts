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
import { ratio, round, type Summary, summarize } from './stats.ts';

export type VariantName = 'local' | 'ferry' | 'webpack';

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
  buildMs: { webpack: number[]; ferry: number[] };
  webpackHostBuildMs: number | undefined;
  distBytes: { ferry: number; webpack?: number };
  hostRuns: VariantRun[];
  instrumented: unknown[];
  remoteDown: {
    ferry: { supported: false; observed: { status: number; body: string; ms: number } };
    webpack?: { code: number | null; ms: number; stderr: string };
  };
  verify: VerifyCost;
  compile: CompileCost;
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
  const build = {
    ferry: results.buildMs.ferry.length ? summarize(results.buildMs.ferry) : undefined,
    webpack: results.buildMs.webpack.length ? summarize(results.buildMs.webpack) : undefined,
    // Paired by run: webpack's time over ferry's in the same iteration.
    speedup: results.buildMs.webpack.length
      ? summarize(results.buildMs.ferry.map((ms, i) => ratio(results.buildMs.webpack[i], ms) ?? Number.NaN))
      : undefined,
  };
  const coldFerryToWebpack = pairedRatio(runs, 'ferry', 'webpack', (r) => r.coldStartMs);
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
  return { cold, rss, rps, bytes, requests, build, coldFerryToWebpack, share };
}

function pairedRatio(
  runs: readonly VariantRun[],
  a: VariantName,
  b: VariantName,
  pick: (run: VariantRun) => number | undefined,
): Summary | undefined {
  const ratios: number[] = [];
  for (const run of new Set(runs.map((r) => r.run))) {
    const x = runs.find((r) => r.variant === a && r.run === run);
    const y = runs.find((r) => r.variant === b && r.run === run);
    const value = x && y ? ratio(pick(x), pick(y)) : undefined;
    if (value !== undefined) ratios.push(value);
  }
  return ratios.length ? summarize(ratios) : undefined;
}

const show = (s: Summary | undefined, unit = '') =>
  s === undefined ? '—' : `${round(s.median)}${unit} (${round(s.min)}–${round(s.max)})`;
const showRatio = (s: Summary | undefined) =>
  s === undefined ? '—' : `${round(s.median)}× (${round(s.min)}–${round(s.max)})`;
const verdict = (met: boolean | undefined) => (met === undefined ? 'n/a' : met ? '**met**' : '**missed**');

/** The markdown report: machine, the figures table, the targets, and what is not measurable yet. */
export function renderMarkdown(results: Results): string {
  const d = derive(results);
  const m = results.machine;
  const wp = results.webpack.included;
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
  );
  const row = (name: string, f: ReturnType<typeof derive>['cold'], unit = '') =>
    `| ${name} | ${show(f.by.local, unit)} | ${show(f.by.ferry, unit)} | ${show(f.by.webpack, unit)} | ` +
    `${showRatio(f.ratioToLocal.ferry)} | ${showRatio(f.ratioToLocal.webpack)} |`;
  lines.push(row('cold start to first 200 on /profile, remote up (ms)', d.cold));
  lines.push(
    `| start from cache, remote down | — | not supported yet (no disk cache) | ` +
      `${results.remoteDown.webpack ? `exits (code ${results.remoteDown.webpack.code} after ${round(results.remoteDown.webpack.ms)} ms)` : '—'} | — | — |`,
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
  lines.push(
    `| signature + hash verification per load (µs) | — | ${show(summarize(v.totalUs))} | none | — | — |`,
    '| new manifest served → host serves it | — | not supported yet (live updates not built) | never (restart) | — | — |',
    '| heap growth over repeated version swaps | — | not supported yet | — | — | — |',
    '',
  );

  const targets: [string, string, boolean | undefined][] = [
    [
      'Remote build ≥ 10× faster than webpack',
      `${showRatio(d.build.speedup)} faster`,
      d.build.speedup ? d.build.speedup.median >= 10 : undefined,
    ],
    [
      'Cold start ≤ 1.15× local',
      showRatio(d.cold.ratioToLocal.ferry),
      d.cold.ratioToLocal.ferry ? d.cold.ratioToLocal.ferry.median <= 1.15 : undefined,
    ],
    [
      'Cold start ≤ 0.6× webpack',
      showRatio(d.coldFerryToWebpack),
      d.coldFerryToWebpack ? d.coldFerryToWebpack.median <= 0.6 : undefined,
    ],
    ['Start from cache, remote down: works, ≤ 1.1× local', 'not supported yet (no disk cache)', false],
    [
      'RSS ≤ 8 MiB above local',
      `${show(d.rss.diffToLocal.ferry, ' MiB')} above`,
      d.rss.diffToLocal.ferry ? d.rss.diffToLocal.ferry.median <= 8 : undefined,
    ],
    [
      'Requests per second ≥ 0.98× local',
      showRatio(d.rps.ratioToLocal.ferry),
      d.rps.ratioToLocal.ferry ? d.rps.ratioToLocal.ferry.median >= 0.98 : undefined,
    ],
  ];
  lines.push('## Targets (issue 8), ferry', '', '| target | figure | verdict |', '|---|---|---|');
  for (const [target, value, met] of targets) lines.push(`| ${target} | ${value} | ${verdict(met)} |`);
  lines.push('');

  lines.push('## Where ferry spends its start-up, and what a V8 code cache could save', '');
  if (d.share) {
    lines.push(
      `Instrumented ferry starts (separate from the timed ones): cold start ${show(d.share.coldStartMs, ' ms')}, ` +
        `of which host.import ${show(d.share.importMs, ' ms')} (ferry:import:end durationMs), fetching ` +
        `${show(d.share.fetchMs, ' ms')} (ferry:fetch), compiling remote code with node:vm ` +
        `${show(d.share.compileMs, ' ms')} = ${show(mapSummary(d.share.compileShareOfColdStart, 100), ' %')} of the ` +
        'cold start.',
    );
  }
  const c = results.compile;
  lines.push(
    `Compiling the remote's ${c.files.length} JavaScript files (${c.bytes} bytes) in a fresh process: ` +
      `${show(summarize(c.coldMs), ' ms')} without a code cache, ${show(summarize(c.cachedMs), ' ms')} with one ` +
      `(${c.rejected} rejected).`,
    `Verification per load: Ed25519 signature + canonical check ${show(summarize(v.signatureUs), ' µs')}, ` +
      `parseManifest ${show(summarize(v.parseUs), ' µs')}, sha384 of the manifest and ${v.files.join(', ')} ` +
      `(${v.bytesHashed} bytes in all) ${show(summarize(v.hashUs), ' µs')}.`,
    '',
  );
  lines.push('## Remote down at host start', '');
  const fd = results.remoteDown.ferry.observed;
  lines.push(
    `- ferry: start from cache is not supported yet. Observed: the demo host starts and its first /profile ` +
      `answers ${fd.status} after ${round(fd.ms)} ms (${fd.body.replace(/\|/g, '\\|')}).`,
  );
  if (results.remoteDown.webpack) {
    const w = results.remoteDown.webpack;
    lines.push(
      `- webpack: the host exits with code ${w.code} after ${round(w.ms)} ms (${w.stderr.replace(/\|/g, '/')}).`,
    );
  }
  lines.push('');
  if (!wp) lines.push(`webpack variant not included: ${results.webpack.why}`, '');
  if (results.webpackHostBuildMs !== undefined) {
    lines.push(`webpack host build (once, not a target): ${round(results.webpackHostBuildMs)} ms.`, '');
  }
  for (const note of results.notes) lines.push(`Note: ${note}`, '');
  return `${lines.join('\n').trimEnd()}\n`;
}

function mapSummary(s: Summary, factor: number): Summary {
  return summarize(s.samples.map((x) => x * factor));
}
