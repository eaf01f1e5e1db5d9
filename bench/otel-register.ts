/**
 * `node --import bench/otel-register.ts server.js`: the ferry host of the benchmark with ferry's OpenTelemetry
 * instrumentation on, as an operator would run it: the global context manager, a tracer provider with a batching span
 * processor, a meter provider read every second, and `FerryInstrumentation` enabled. The exporters drop what they are
 * given (a benchmark measures the host, not a collector). With `FERRY_BENCH_OTEL=sdk` the SDK is set up the same
 * way but ferry's instrumentation is not registered: what the SDK itself costs. Used by bench/otel-cost.ts.
 */

import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { MeterProvider, PeriodicExportingMetricReader, type PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';

const SUCCESS = { code: 0 } as const;
const spans: SpanExporter = { export: (_spans, done) => done(SUCCESS), shutdown: async () => {} };
const metricExporter: PushMetricExporter = {
  export: (_metrics, done) => done(SUCCESS),
  forceFlush: async () => {},
  shutdown: async () => {},
};

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(spans)] }));
metrics.setGlobalMeterProvider(
  new MeterProvider({
    readers: [new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 1000 })],
  }),
);
if (process.env['FERRY_BENCH_OTEL'] !== 'sdk') {
  // The built entry, as a host installs it (the host app loads ferry's dist/ too).
  const { FerryInstrumentation } = (await import(
    pathToFileURL(join(import.meta.dirname, '..', 'dist', 'otel', 'index.js')).href
  )) as typeof import('../src/otel/index.ts');
  registerInstrumentations({ instrumentations: [new FerryInstrumentation()] });
}
