/**
 * ferry/otel's metrics scraped by a real Prometheus server (Debian's `prometheus`, started here on a free loopback
 * port with a generated config and a temp storage folder) from a host exposing them with
 * `@opentelemetry/exporter-prometheus`: Prometheus's HTTP API answers the active release of each remote, and the
 * answer changes after a live update. Skipped, saying so, only when the prometheus binary is missing.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { FerryInstrumentation } from '../../src/otel/index.ts';
import { listen, startObservedHost } from '../helpers/observed-host.ts';

const PROMETHEUS = ['/usr/bin/prometheus', '/usr/local/bin/prometheus'].find((path) => existsSync(path));

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

async function query(base: string, promql: string): Promise<Sample[]> {
  const response = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await response.json()) as { status: string; data: { result: Sample[] } };
  assert.equal(body.status, 'success', JSON.stringify(body));
  return body.data.result;
}

/** Polls `promql` until `done` says the answer is the expected one (or 30 s pass), returning the last answer. */
async function until(base: string, promql: string, done: (samples: Sample[]) => boolean): Promise<Sample[]> {
  const deadline = Date.now() + 30_000;
  let samples: Sample[] = [];
  while (Date.now() < deadline) {
    samples = await query(base, promql).catch(() => []);
    if (done(samples)) return samples;
    await sleep(250);
  }
  return samples;
}

test('Prometheus scrapes the active release of each remote, and sees it change after a live update', async (t) => {
  if (!PROMETHEUS) {
    t.skip('prometheus is not installed (/usr/bin/prometheus): `apt-get install prometheus` (.ci/run installs it)');
    return;
  }
  // The host's metrics: ferry's instrumentation on a MeterProvider read by the Prometheus exporter, served by the host.
  const exporter = new PrometheusExporter({ preventServerStart: true });
  const meterProvider = new MeterProvider({ readers: [exporter] });
  const instrumentation = new FerryInstrumentation();
  instrumentation.setMeterProvider(meterProvider);
  await using observed = await startObservedHost();
  const metrics = await listen((req, res) => exporter.getMetricsRequestHandler(req, res));
  const scraped = await (await fetch(`${metrics.url}/metrics`)).text();
  assert.match(scraped, /^ferry_remote_active_release\{[^}]*ferry_remote="authService"[^}]*\} 3$/m, scraped);

  const dir = mkdtempSync(join(tmpdir(), 'ferry-prometheus-'));
  const port = await freePort();
  writeFileSync(
    join(dir, 'prometheus.yml'),
    [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'scrape_configs:',
      '  - job_name: ferry-host',
      '    static_configs:',
      `      - targets: ['${new URL(metrics.url).host}']`,
      '',
    ].join('\n'),
  );
  const prometheus: ChildProcess = spawn(
    PROMETHEUS,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let logs = '';
  prometheus.stderr!.on('data', (chunk: Buffer) => {
    logs += chunk.toString();
  });
  const base = `http://127.0.0.1:${port}`;
  try {
    const deadline = Date.now() + 30_000;
    while (
      !(await fetch(`${base}/-/ready`)
        .then((r) => r.ok)
        .catch(() => false))
    ) {
      assert.ok(Date.now() < deadline && prometheus.exitCode === null, `Prometheus did not start: ${logs}`);
      await sleep(200);
    }
    const release = 'ferry_remote_active_release{ferry_host="shopService"}';
    const before = await until(base, release, (s) => s.length === 2);
    assert.deepEqual(
      before.map((s) => [s.metric['ferry_remote'], s.value[1]]).sort(),
      [
        ['authService', '3'],
        ['billing', '5'],
      ],
      logs,
    );
    const version = 'ferry_remote_active_version{ferry_remote="authService"} == 1';
    assert.deepEqual(
      (await until(base, version, (s) => s.length === 1)).map((s) => s.metric['ferry_remote_version']),
      ['1.0.0'],
    );

    // A live update: authService 1.1.0, release 4.
    await observed.remotes[0]!.publish('1.1.0', 4);
    const [outcome] = await observed.host.update('authService');
    assert.equal(outcome!.status, 'activated');
    const after = await until(
      base,
      'ferry_remote_active_release{ferry_remote="authService"}',
      (s) => s[0]?.value[1] === '4',
    );
    assert.equal(after[0]?.value[1], '4', `Prometheus still answers ${JSON.stringify(after)}`);
    assert.deepEqual(
      (await until(base, version, (s) => s[0]?.metric['ferry_remote_version'] === '1.1.0')).map(
        (s) => s.metric['ferry_remote_version'],
      ),
      ['1.1.0'],
    );
    const outcomes = await until(
      base,
      'ferry_update_outcomes_total{ferry_update_outcome="activated"}',
      (s) => s.length > 0,
    );
    assert.ok(outcomes.length > 0, 'the update outcome counter is scraped too');
  } finally {
    prometheus.kill('SIGTERM');
    instrumentation.disable();
    metrics.server.close();
    await meterProvider.shutdown();
    rmSync(dir, { recursive: true, force: true });
  }
});
