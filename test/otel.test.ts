/**
 * ferry/otel with the real OpenTelemetry Node SDK (in-memory span and metric exporters) and the real
 * `@opentelemetry/instrumentation-http`: the span tree of a cold import (import → manifest and files, each with the
 * HTTP client spans of instrumentation-http inside), a cache hit, a refused update, an error with its code; metric
 * values after a known sequence of events; a throwing hook that breaks nothing; and disable() stopping all output.
 */
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { context, metrics, type Tracer, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { AggregationTemporality, type DataPoint, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { createHost, type HostOptions } from '../src/index.ts';
import { FerryInstrumentation } from '../src/otel/index.ts';
import { createRequestHandler } from '../src/server/index.ts';
import { createSignedRemote, newKeys, type SignedRemote } from './helpers/trust-fixture.ts';

class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

const spans = new InMemorySpanExporter();
const reader = new TestReader();
const hookCalls: string[] = [];
let ferry: FerryInstrumentation;
let unregister: () => void;
const cacheDirs: string[] = [];

before(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }));
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
  ferry = new FerryInstrumentation({
    // A hook that throws must not break an import: it is logged and ignored.
    startSpanHook: (span, info) => {
      hookCalls.push(info.operation);
      span.setAttribute('test.hooked', true);
      throw new Error('a broken user hook');
    },
  });
  unregister = registerInstrumentations({ instrumentations: [new HttpInstrumentation(), ferry] });
});
after(() => {
  unregister();
  for (const dir of cacheDirs) rmSync(dir, { recursive: true, force: true });
});

function freshCache(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-otel-'));
  cacheDirs.push(dir);
  return dir;
}

function hostFor(remote: SignedRemote, cacheDir: string, extra: Partial<HostOptions> = {}) {
  return createHost({
    name: 'otelHost',
    remotes: { authService: { url: remote.manifestUrl, publicKey: remote.publicKey } },
    cache: { dir: cacheDir },
    live: { pollInterval: false, push: false },
    onWarning: () => {},
    ...extra,
  });
}

/** The finished spans under `root` (itself included), as `name` lines indented by depth. */
function tree(all: ReadableSpan[], root: ReadableSpan, depth = 0): string[] {
  const id = root.spanContext().spanId;
  const children = all
    .filter((span) => span.parentSpanContext?.spanId === id)
    .sort(
      (a, b) =>
        a.name.localeCompare(b.name) ||
        (a.attributes['url.full'] as string)?.localeCompare(b.attributes['url.full'] as string),
    );
  return [`${'  '.repeat(depth)}${label(root)}`, ...children.flatMap((child) => tree(all, child, depth + 1))];
}

function label(span: ReadableSpan): string {
  if (span.name !== 'GET') return span.name;
  const url = String(span.attributes['url.full'] ?? span.attributes['http.url'] ?? '');
  return `${span.name} ${new URL(url).pathname.replace(/\.[\w-]{10}\.js/, '.<hash>.js')}`;
}

async function traced<T>(name: string, fn: () => Promise<T>): Promise<{ root: ReadableSpan; value: T }> {
  spans.reset();
  const tracer = trace.getTracer('test');
  const value = await tracer.startActiveSpan(name, async (span) => {
    try {
      return await fn();
    } finally {
      span.end();
    }
  });
  const root = spans.getFinishedSpans().find((span) => span.name === name)!;
  return { root, value };
}

async function collect(): Promise<Map<string, DataPoint<unknown>[]>> {
  const { resourceMetrics } = await reader.collect();
  const out = new Map<string, DataPoint<unknown>[]>();
  for (const scope of resourceMetrics.scopeMetrics) {
    if (scope.scope.name !== 'ferry') continue;
    for (const metric of scope.metrics) out.set(metric.descriptor.name, metric.dataPoints as DataPoint<unknown>[]);
  }
  return out;
}

test('a cold import: import → manifest (HTTP GETs of the manifest and its signature) and files, under the caller', async () => {
  await using remote = await createSignedRemote({ release: 3, version: '1.0.0' });
  const host = hostFor(remote, freshCache());
  const { root, value } = await traced('request', () => host.import<{ answer: number }>('authService/x'));
  assert.equal(value.answer, 42, 'the import works although the user hook throws');
  const all = spans.getFinishedSpans();
  assert.deepEqual(tree(all, root), [
    'request',
    '  ferry import authService/x',
    '    ferry file authService',
    '      GET /remoteEntry.js',
    '    ferry file authService',
    '      GET /x.<hash>.js',
    '    ferry manifest authService',
    '      GET /mf-manifest.json',
    '      GET /mf-manifest.json.sig',
  ]);
  const importSpan = all.find((span) => span.name === 'ferry import authService/x')!;
  assert.equal(importSpan.attributes['ferry.remote'], 'authService');
  assert.equal(importSpan.attributes['ferry.expose'], './x');
  assert.equal(importSpan.attributes['ferry.remote.version'], '1.0.0');
  assert.equal(importSpan.attributes['ferry.remote.release'], 3);
  assert.equal(importSpan.attributes['ferry.copy.source'], 'network');
  assert.equal(importSpan.attributes['test.hooked'], true);
  const manifestSpan = all.find((span) => span.name === 'ferry manifest authService')!;
  assert.equal(manifestSpan.attributes['ferry.manifest.signed'], true);
  assert.equal(manifestSpan.attributes['url.full'], remote.manifestUrl);
  assert.ok(hookCalls.includes('import') && hookCalls.includes('manifest') && hookCalls.includes('file'));
  await host.close();
});

test('a cache hit: a restarted host revalidates its cached manifest (a 304) and reads the files from its cache', async () => {
  await using remote = await createSignedRemote({ release: 3 });
  // Served by ferry's own handler, which sends ETags (the fixture's plain server does not).
  const handler = createRequestHandler({ dir: remote.project.dir });
  const server = createServer((req, res) => handler(req, res));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  after(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mf-manifest.json`;
  const cacheDir = freshCache();
  const first = hostFor({ ...remote, manifestUrl: url }, cacheDir);
  await first.import('authService/x');
  await first.close();
  const second = hostFor({ ...remote, manifestUrl: url }, cacheDir);
  const { root } = await traced('restart', () => second.import('authService/x'));
  const all = spans.getFinishedSpans();
  assert.deepEqual(tree(all, root), [
    'restart',
    '  ferry import authService/x',
    '    ferry file authService',
    '    ferry file authService',
    '    ferry manifest authService',
    '      GET /mf-manifest.json',
  ]);
  for (const span of all.filter((s) => s.name.startsWith('ferry '))) {
    assert.equal(span.attributes['ferry.copy.source'], 'cache', span.name);
  }
  const get = all.find((span) => span.name === 'GET')!;
  assert.equal(get.attributes['http.response.status_code'] ?? get.attributes['http.status_code'], 304);
  await second.close();
});

test('a refused update: its span says why, with the refusal as a span event carrying the error code', async () => {
  await using remote = await createSignedRemote({ release: 3 });
  const host = hostFor(remote, freshCache());
  await host.import('authService/x');
  await remote.publish({ release: 4, signWith: newKeys().privateKey });
  const { root, value } = await traced('deploy', () => host.update('authService'));
  assert.equal(value[0]!.status, 'refused');
  const all = spans.getFinishedSpans();
  assert.deepEqual(tree(all, root).slice(0, 3), [
    'deploy',
    '  ferry update authService',
    '    ferry manifest authService',
  ]);
  const update = all.find((span) => span.name === 'ferry update authService')!;
  assert.equal(update.attributes['ferry.update.trigger'], 'manual');
  assert.equal(update.attributes['ferry.update.outcome'], 'refused');
  assert.equal(update.attributes['ferry.update.reason'], 'verification');
  const event = update.events.find((e) => e.name === 'ferry.update.refused')!;
  assert.equal(event.attributes?.['error.type'], 'ERR_FERRY_SIGNATURE');
  const manifest = all.find((span) => span.name === 'ferry manifest authService')!;
  assert.equal(manifest.status.code, 2);
  assert.equal(manifest.attributes['error.type'], 'ERR_FERRY_SIGNATURE');
  await host.close();
});

test('checks the host starts itself are traces of their own, not children of the request whose import loaded the remote', async () => {
  // The watcher's timers are created inside the first import: they used to carry its context, so every poll, for as
  // long as the host ran, was one more child of that long-finished request's trace.
  await using remote = await createSignedRemote({ release: 3 });
  const host = hostFor(remote, freshCache(), { live: { pollInterval: 50, push: false } });
  try {
    const { root } = await traced('request', () => host.import('authService/x'));
    const polls = () => spans.getFinishedSpans().filter((span) => span.name === 'ferry update authService');
    while (polls().length < 2) await new Promise((resolve) => setTimeout(resolve, 20));
    for (const poll of polls()) {
      assert.equal(poll.attributes['ferry.update.trigger'], 'poll');
      assert.equal(poll.parentSpanContext, undefined, 'a root span');
      assert.notEqual(poll.spanContext().traceId, root.spanContext().traceId);
    }
    // Its manifest request is its child, in its trace.
    const update = polls()[0]!;
    const manifest = spans
      .getFinishedSpans()
      .find(
        (span) =>
          span.name === 'ferry manifest authService' && span.parentSpanContext?.spanId === update.spanContext().spanId,
      );
    assert.ok(manifest, "the poll's manifest span is its child");
  } finally {
    await host.close();
  }
});

test('the background refresh of a copy served stale is not part of the request that found the remote down', async () => {
  await using remote = await createSignedRemote({ release: 3 });
  const cacheDir = freshCache();
  const first = hostFor(remote, cacheDir);
  await first.import('authService/x');
  await first.close();
  // Down: a restarted host serves its cached copy, inside a request, and refreshes in the background.
  remote.server.override = (_req, res) => {
    res.writeHead(503).end();
    return true;
  };
  const host = hostFor(remote, cacheDir, { retry: { attempts: 1 } });
  try {
    const { root } = await traced('request', () => host.import('authService/x'));
    await remote.publish({ release: 4, exposes: { './x': { code: `${remote.canary}exports.answer = 43;\n` } } });
    remote.server.override = undefined;
    // The refresh finds the new build and hands it to live updates: a check with trigger 'cache'.
    const found = () =>
      spans
        .getFinishedSpans()
        .find(
          (span) => span.name === 'ferry update authService' && span.attributes['ferry.update.trigger'] === 'cache',
        );
    const deadline = Date.now() + 15_000;
    while (!found() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    const update = found();
    assert.ok(update, 'the refresh found the new build');
    assert.equal(update.parentSpanContext, undefined, 'a root span');
    assert.notEqual(update.spanContext().traceId, root.spanContext().traceId);
  } finally {
    await host.close();
  }
});

test('a failed import: error.type is the ferry error code, on the import span and its manifest span', async () => {
  await using remote = await createSignedRemote({ release: 3 });
  const host = createHost({
    name: 'otelHost',
    remotes: { authService: { url: remote.manifestUrl, publicKey: newKeys().publicKey } },
    cache: { dir: freshCache() },
    live: { pollInterval: false, push: false },
    onWarning: () => {},
  });
  await traced('request', () => host.import('authService/x').catch((error: unknown) => error));
  const importSpan = spans.getFinishedSpans().find((span) => span.name === 'ferry import authService/x')!;
  assert.equal(importSpan.status.code, 2);
  assert.equal(importSpan.attributes['error.type'], 'ERR_FERRY_SIGNATURE');
  assert.equal(importSpan.events[0]?.name, 'exception');
  await host.close();
});

test('metrics after a known sequence: import durations, verification failures, stale serves, updates, breaker, active version', async () => {
  await using remote = await createSignedRemote({ name: 'metricsRemote', release: 7, version: '1.0.0' });
  const cacheDir = freshCache();
  const make = () =>
    createHost({
      name: 'metricsHost',
      remotes: {
        metricsRemote: {
          url: remote.manifestUrl,
          publicKey: remote.publicKey,
          retry: { attempts: 1 },
          breaker: { failureThreshold: 1 },
        },
      },
      cache: { dir: cacheDir },
      live: { pollInterval: false, push: false },
      onWarning: () => {},
    });
  // What the runtime itself published, to compare the metrics with: a refused build is tried again after a jittered
  // backoff (from 0 s) and a stale copy's background refresh too, so either may happen once more during the test.
  const published = { refused: 0, stale: 0 };
  const count = (message: unknown) => {
    const { host, type, event } = message as { host: string; type?: string; event?: string };
    if (host !== 'metricsHost') return;
    if (type === 'refused') published.refused++;
    if (event === 'stale') published.stale++;
  };
  diagnosticsChannel.subscribe('ferry:update:refused', count);
  diagnosticsChannel.subscribe('ferry:cache', count);
  after(() => {
    diagnosticsChannel.unsubscribe('ferry:update:refused', count);
    diagnosticsChannel.unsubscribe('ferry:cache', count);
  });
  const host = make();
  // Two imports (one cold, one hot), an update refused (wrong key), then one activated (release 8).
  await host.import('metricsRemote/x');
  await host.import('metricsRemote/x');
  let points = await collect();
  const mine = (name: string) => points.get(name)?.filter((p) => p.attributes['ferry.host'] === 'metricsHost') ?? [];
  const active = () => ({
    release: mine('ferry.remote.active_release').map((p) => p.value),
    versions: mine('ferry.remote.active_version').map((p) => [p.attributes['ferry.remote.version'], p.value]),
  });
  assert.deepEqual(active(), { release: [7], versions: [['1.0.0', 1]] });
  await remote.publish({ release: 8, version: '1.1.0', signWith: newKeys().privateKey });
  await host.update('metricsRemote');
  await remote.publish({ release: 8, version: '1.1.0', signWith: remote.privateKey });
  const [outcome] = await host.update('metricsRemote');
  assert.equal(outcome!.status, 'activated');
  await host.close();
  // A restart while the remote is down: served stale from the cache, the breaker records the failure.
  await remote.server.close();
  const restarted = make();
  await restarted.import('metricsRemote/x');
  points = await collect();
  assert.ok(published.refused >= 1 && published.stale >= 1, JSON.stringify(published));

  const durations = points.get('ferry.import.duration')!.filter((p) => p.attributes['ferry.host'] === 'metricsHost');
  const imports = durations.reduce((sum, p) => sum + (p.value as { count: number }).count, 0);
  assert.equal(imports, 3);
  assert.equal(durations[0]!.attributes['ferry.expose'], './x');
  const failures = points
    .get('ferry.verification.failures')!
    .filter((p) => p.attributes['ferry.host'] === 'metricsHost');
  assert.deepEqual(
    failures.map((p) => [p.attributes['ferry.verification.reason'], p.value]),
    [['ERR_FERRY_SIGNATURE', published.refused]],
  );
  const outcomes = points.get('ferry.update.outcomes')!.filter((p) => p.attributes['ferry.host'] === 'metricsHost');
  assert.deepEqual(
    outcomes.map((p) => [p.attributes['ferry.update.outcome'], p.attributes['ferry.update.reason'], p.value]).sort(),
    [
      ['activated', undefined, 1],
      ['refused', 'verification', published.refused],
    ],
  );
  const stale = points.get('ferry.cache.stale_serves')!.filter((p) => p.attributes['ferry.host'] === 'metricsHost');
  assert.deepEqual(
    stale.map((p) => p.value),
    [published.stale],
  );
  assert.deepEqual(active(), {
    release: [8],
    versions: [
      ['1.0.0', 0],
      ['1.1.0', 1],
    ],
  });
  const breaker = points.get('ferry.breaker.state')!.filter((p) => p.attributes['ferry.host'] === 'metricsHost');
  assert.deepEqual(
    breaker.map((p) => [p.attributes['ferry.breaker.state'], p.value]),
    [
      ['closed', 0],
      ['half-open', 0],
      ['open', 1],
    ],
  );
  await restarted.close();
});

test('disable() stops spans and metrics; enable() brings them back', async () => {
  await using remote = await createSignedRemote({ name: 'quietRemote', release: 1 });
  ferry.disable();
  try {
    const host = createHost({
      name: 'quietHost',
      remotes: { quietRemote: { url: remote.manifestUrl, publicKey: remote.publicKey } },
      cache: { dir: freshCache() },
      live: { pollInterval: false, push: false },
      onWarning: () => {},
    });
    const { root } = await traced('request', () => host.import('quietRemote/x'));
    assert.deepEqual(
      tree(spans.getFinishedSpans(), root).filter((line) => line.includes('ferry')),
      [],
      'no ferry span while disabled',
    );
    const points = await collect();
    for (const [name, list] of points) {
      assert.deepEqual(
        list.filter((p) => p.attributes['ferry.host'] === 'quietHost'),
        [],
        `${name} has no point for a host observed while disabled`,
      );
    }
    await host.close();
  } finally {
    ferry.enable();
  }
  const host = createHost({
    name: 'quietHost2',
    remotes: { quietRemote: { url: remote.manifestUrl, publicKey: remote.publicKey } },
    cache: { dir: freshCache() },
    live: { pollInterval: false, push: false },
    onWarning: () => {},
  });
  const { root } = await traced('request', () => host.import('quietRemote/x'));
  assert.ok(tree(spans.getFinishedSpans(), root).includes('  ferry import quietRemote/x'));
  await host.close();
});

test('two instrumentations are independent: each has its own provider, and disabling one leaves the other', async () => {
  await using remote = await createSignedRemote({ name: 'twiceRemote', release: 1 });
  const second = new InMemorySpanExporter();
  const other = new FerryInstrumentation();
  other.setTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(second)] }));
  const importOnce = async (name: string) => {
    const host = createHost({
      name,
      remotes: { twiceRemote: { url: remote.manifestUrl, publicKey: remote.publicKey } },
      cache: { dir: freshCache() },
      live: { pollInterval: false, push: false },
      onWarning: () => {},
    });
    await host.import('twiceRemote/x');
    await host.close();
  };
  const names = (exporter: InMemorySpanExporter) =>
    exporter.getFinishedSpans().filter((s) => s.name === 'ferry import twiceRemote/x').length;
  spans.reset();
  await importOnce('twiceA');
  assert.deepEqual([names(spans), names(second)], [1, 1]);
  ferry.disable();
  try {
    await importOnce('twiceB');
    assert.deepEqual([names(spans), names(second)], [1, 2], 'the other one still traces');
  } finally {
    ferry.enable();
    other.disable();
  }
  await importOnce('twiceC');
  assert.deepEqual([names(spans), names(second)], [2, 2]);
});

test('an instrumentation whose tracer throws breaks no import and raises no uncaught exception', async () => {
  await using remote = await createSignedRemote({ name: 'brokenRemote', release: 1 });
  const broken = new FerryInstrumentation();
  const throwing = () => {
    throw new Error('a broken tracer');
  };
  broken.setTracerProvider({
    getTracer: () => ({ startSpan: throwing, startActiveSpan: throwing }) as unknown as Tracer,
  });
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown) => uncaught.push(error);
  process.on('uncaughtException', onUncaught);
  try {
    const host = createHost({
      name: 'brokenHost',
      remotes: { brokenRemote: { url: remote.manifestUrl, publicKey: remote.publicKey } },
      cache: { dir: freshCache() },
      live: { pollInterval: false, push: false },
      onWarning: () => {},
    });
    assert.equal((await host.import<{ answer: number }>('brokenRemote/x')).answer, 42);
    await host.close();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(uncaught, []);
  } finally {
    process.off('uncaughtException', onUncaught);
    broken.disable();
  }
});
