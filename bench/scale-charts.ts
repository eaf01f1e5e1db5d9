/**
 * The scale benchmark's charts: one SVG per axis in bench/results/, drawn by Vega-Lite (compiled to a Vega spec)
 * and rendered headlessly by Vega's SVG renderer (no browser, no canvas). Each chart shows ferry beside its baseline.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { Paired } from './scale.ts';
import type { FleetResult } from './scale-fleet.ts';
import type { UptimeRun } from './scale-report.ts';
import { summarize } from './stats.ts';

const median = (values: number[]) => (values.length === 0 ? Number.NaN : summarize(values).median);

async function render(spec: TopLevelSpec, file: string): Promise<void> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  await writeFile(file, await view.toSVG());
  view.finalize();
}

const base = { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', width: 360, height: 220 } as const;

/** Writes `<name>-<axis>.svg` for each axis present in `results`; returns the files written. */
export async function renderCharts(results: Record<string, unknown>, dir: string, name: string): Promise<string[]> {
  const written: string[] = [];
  const remotes = results['remotes'] as Record<'cold' | 'cache' | 'down', Paired[]> | undefined;
  if (remotes) {
    const rows = (['cold', 'cache', 'down'] as const).flatMap((phase) =>
      remotes[phase].flatMap((pair) => [
        { remotes: pair.x, phase, series: 'ferry', ms: median(pair.ferry.map((s) => s.wallMs)) },
        { remotes: pair.x, phase, series: 'local import', ms: median(pair.local.map((s) => s.wallMs)) },
        ...(pair.floor && pair.floor.length > 0
          ? [{ remotes: pair.x, phase, series: 'floor (no ferry)', ms: median(pair.floor.map((s) => s.wallMs)) }]
          : []),
      ]),
    );
    const file = join(dir, `${name}-remotes.svg`);
    await render(
      {
        ...base,
        title: 'Remotes per host: spawn → every expose imported (median)',
        data: { values: rows },
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'remotes', type: 'quantitative', title: 'remotes (3 exposes of ~20 KB each)' },
          y: { field: 'ms', type: 'quantitative', title: 'ms' },
          color: { field: 'series', type: 'nominal' },
          strokeDash: { field: 'phase', type: 'nominal', title: 'start' },
        },
      } as TopLevelSpec,
      file,
    );
    written.push(file);
  }
  const bundle = results['bundle'] as
    | { pairs: Paired[]; verify: Array<{ bytes: number; rawMBps: number[]; ferryMBps: number[] }> }
    | undefined;
  if (bundle) {
    const rows = bundle.pairs.flatMap((pair) => [
      { bytes: pair.x, series: 'ferry import (cold)', ms: median(pair.ferry.map((s) => s.importMs)) },
      { bytes: pair.x, series: 'local import', ms: median(pair.local.map((s) => s.importMs)) },
      ...(pair.ferry.every((s) => s.secondMs !== undefined) && pair.local.every((s) => s.secondMs !== undefined)
        ? [
            { bytes: pair.x, series: 'ferry, a second expose', ms: median(pair.ferry.map((s) => s.secondMs!)) },
            { bytes: pair.x, series: 'local, a second module', ms: median(pair.local.map((s) => s.secondMs!)) },
          ]
        : []),
      ...(pair.floor && pair.floor.length > 0
        ? [{ bytes: pair.x, series: 'floor import (no ferry)', ms: median(pair.floor.map((s) => s.importMs)) }]
        : []),
    ]);
    const verify = bundle.verify.flatMap((row) => [
      { bytes: row.bytes, series: 'raw SHA-384 (node:crypto)', mbps: median(row.rawMBps) },
      { bytes: row.bytes, series: 'ferry file check', mbps: median(row.ferryMBps) },
    ]);
    const file = join(dir, `${name}-bundle.svg`);
    await render(
      {
        $schema: base.$schema,
        title: 'Bundle size: import time and verification throughput (median)',
        hconcat: [
          {
            width: 300,
            height: 220,
            data: { values: rows },
            mark: { type: 'line', point: true },
            encoding: {
              x: { field: 'bytes', type: 'quantitative', scale: { type: 'log' }, title: 'expose bytes' },
              y: { field: 'ms', type: 'quantitative', scale: { type: 'log' }, title: 'import (ms)' },
              color: { field: 'series', type: 'nominal' },
            },
          },
          {
            width: 300,
            height: 220,
            data: { values: verify },
            mark: { type: 'line', point: true },
            encoding: {
              x: { field: 'bytes', type: 'quantitative', scale: { type: 'log' }, title: 'bytes hashed' },
              y: { field: 'mbps', type: 'quantitative', title: 'MB/s' },
              color: { field: 'series', type: 'nominal' },
            },
          },
        ],
      } as TopLevelSpec,
      file,
    );
    written.push(file);
  }
  const fleet = results['fleet'] as FleetResult[] | undefined;
  if (fleet) {
    const rows = fleet.flatMap((run) => [
      { hosts: run.hosts, mode: run.mode, measure: 'all hosts serving (ms)', value: run.latencyMs.max },
      { hosts: run.hosts, mode: run.mode, measure: 'median host serving (ms)', value: run.latencyMs.median },
      {
        hosts: run.hosts,
        mode: run.mode,
        measure: 'server RSS growth (MiB)',
        value: run.server.rssMiB.peak - run.server.rssMiB.before,
      },
    ]);
    const file = join(dir, `${name}-fleet.svg`);
    await render(
      {
        $schema: base.$schema,
        title: 'Fleet fan-out: new manifest → hosts serving it; server memory',
        data: { values: rows },
        facet: { column: { field: 'measure', type: 'nominal', title: null } },
        spec: {
          width: 200,
          height: 200,
          mark: { type: 'line', point: true },
          encoding: {
            x: { field: 'hosts', type: 'quantitative', scale: { type: 'log' } },
            y: { field: 'value', type: 'quantitative', title: null },
            color: { field: 'mode', type: 'nominal', title: 'detection' },
          },
        },
        resolve: { scale: { y: 'independent' } },
      } as TopLevelSpec,
      file,
    );
    written.push(file);
  }
  const uptime = results['uptime'] as Record<string, UptimeRun> | undefined;
  if (uptime) {
    const rows = Object.entries(uptime).flatMap(([variant, run]) =>
      (run.samples ?? []).flatMap((s) => [
        { swap: s.swap, variant, measure: 'heap after GC', MiB: s.heapMiB },
        { swap: s.swap, variant, measure: 'RSS', MiB: s.rssMiB },
        { swap: s.swap, variant, measure: 'V8 heap reserved', MiB: s.heapTotalMiB },
      ]),
    );
    const file = join(dir, `${name}-uptime.svg`);
    await render(
      {
        ...base,
        title: 'Uptime: memory over live swaps of a 200 KB remote',
        data: { values: rows },
        mark: 'line',
        encoding: {
          x: { field: 'swap', type: 'quantitative', title: 'swaps' },
          y: { field: 'MiB', type: 'quantitative' },
          color: { field: 'measure', type: 'nominal' },
          strokeDash: { field: 'variant', type: 'nominal', title: 'node flags' },
        },
      } as TopLevelSpec,
      file,
    );
    written.push(file);
  }
  return written;
}
