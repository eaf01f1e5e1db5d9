/**
 * `ferry/otel`: OpenTelemetry instrumentation for ferry hosts (spans, span events, metrics), built on ferry's
 * diagnostics channels. Depends only on `@opentelemetry/api` and `@opentelemetry/instrumentation` (optional peer
 * dependencies); the `ferry` entry never loads them. Imports flow otel -> runtime (channel names and types) -> common.
 */
export {
  type FerryHookInfo,
  FerryInstrumentation,
  type FerryInstrumentationConfig,
  type FerryOperation,
  type FerryOperations,
} from './instrumentation.ts';
export { attributeNames, errorTypeOf, metricNames } from './semantics.ts';
