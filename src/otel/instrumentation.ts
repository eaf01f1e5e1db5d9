/**
 * `FerryInstrumentation`: OpenTelemetry spans, span events and metrics from ferry's diagnostics channels, shaped like
 * `@opentelemetry/instrumentation-undici` — it patches nothing: `enable()` subscribes to the channels and
 * `disable()` unsubscribes. Spans come from the tracing channels (runtime/channels.ts): each traced operation runs
 * inside the `start` channel's bound store, which here is OpenTelemetry's context (`context.with`), so ferry's span is
 * the active one for the requests below it and `@opentelemetry/instrumentation-http`'s spans nest under it.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { type Attributes, type Context, context, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import {
  InstrumentationBase,
  type InstrumentationConfig,
  safeExecuteInTheMiddle,
} from '@opentelemetry/instrumentation';
import { ferryVersion } from '../common/ferry-version.ts';
import {
  type BreakerMessage,
  type CacheMessage,
  channelNames,
  type FallbackMessage,
  type ImportEndMessage,
  type ImportErrorMessage,
  type ImportTraceContext,
  tracingNames,
  type UpdateMessage,
  type WarningMessage,
} from '../runtime/channels.ts';
import { createInstruments, type GaugeState, type Instruments } from './metrics.ts';
import { attributeNames, errorTypeOf, VERIFICATION_CODES } from './semantics.ts';
import {
  endAttributes,
  type FerryOperation,
  type FerryOperations,
  spanNameOf,
  startAttributes,
} from './span-attributes.ts';

export type { FerryOperation, FerryOperations } from './span-attributes.ts';

/** What a hook receives: the operation and its tracing-channel context (documented in the README). */
export type FerryHookInfo = { [K in FerryOperation]: { operation: K; context: FerryOperations[K] } }[FerryOperation];

export interface FerryInstrumentationConfig extends InstrumentationConfig {
  /** Called when one of ferry's spans starts; may add attributes. A hook that throws is logged and ignored. */
  startSpanHook?: (span: Span, info: FerryHookInfo) => void;
  /** Called before one of ferry's spans ends, with the context filled in. A hook that throws is logged and ignored. */
  endSpanHook?: (span: Span, info: FerryHookInfo) => void;
  /** Spans for each file fetch under a manifest or import span (default `true`). */
  fileSpans?: boolean;
}

/** What the instrumentation remembers between events: what its gauges read, its open spans, its subscriptions. */
interface State extends GaugeState {
  spans: WeakMap<object, Span>;
  unsubscribe: Array<() => void>;
}

/**
 * Runs a traced operation inside OpenTelemetry's context: `bindStore` needs only `run(value, fn)`, which it calls with
 * the transform's value. One per instrumentation and channel (a channel keeps one transform per store object).
 */
function otelStore(): { run<T>(value: Context, fn: () => T): T } {
  return { run: (value, fn) => context.with(value, fn) };
}

/**
 * OpenTelemetry instrumentation for ferry hosts.
 *
 * @example
 * ```ts
 * import { registerInstrumentations } from '@opentelemetry/instrumentation';
 * import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
 * import { FerryInstrumentation } from 'ferry/otel';
 * registerInstrumentations({ instrumentations: [new HttpInstrumentation(), new FerryInstrumentation()] });
 * ```
 */
export class FerryInstrumentation extends InstrumentationBase<FerryInstrumentationConfig> {
  // `declare` fields and no `#private` members: the base constructor calls enable() and _updateMetricInstruments()
  // before the subclass's fields and private methods exist.
  declare private _instruments: Instruments | undefined;
  declare private _state: State | undefined;

  constructor(config: FerryInstrumentationConfig = {}) {
    super('ferry', ferryVersion(), config);
  }

  /** ferry patches no module: it publishes on diagnostics channels. */
  protected override init(): undefined {
    return undefined;
  }

  override enable(): void {
    super.enable();
    const state = this._ensureState();
    if (state.unsubscribe.length > 0) return;
    this._traceOperation('import', tracingNames.import);
    this._traceOperation('manifest', tracingNames.manifest);
    if (this.getConfig().fileSpans !== false) this._traceOperation('file', tracingNames.file);
    this._traceOperation('update', tracingNames.update);
    this._on<ImportEndMessage>(channelNames.importEnd, (message) => this._recordImport(message));
    this._on<ImportErrorMessage>(channelNames.importError, (message) => this._recordImport(message, message.error));
    this._on<BreakerMessage>(channelNames.breaker, (message) => {
      state.breakers.set(`${message.host}\0${message.remote}`, message);
      this._event('ferry.breaker', {
        ...this._where(message),
        [attributeNames.breakerState]: message.state,
        'ferry.breaker.failures': message.failures,
      });
    });
    this._on<CacheMessage>(channelNames.cache, (message) => {
      if (message.event === 'stale') this._instruments?.staleServes.add(1, this._where(message));
      this._event(`ferry.cache.${message.event}`, {
        ...this._where(message),
        [attributeNames.version]: message.version,
        'ferry.cache.age_ms': message.ageMs,
      });
    });
    this._on<FallbackMessage>(channelNames.fallback, (message) =>
      this._event('ferry.fallback', {
        ...this._where(message),
        [attributeNames.expose]: message.expose,
        'error.type': errorTypeOf(message.error),
      }),
    );
    this._on<WarningMessage>(channelNames.warning, (message) =>
      this._event('ferry.warning', { [attributeNames.host]: message.host, 'ferry.warning.code': message.code }),
    );
    this._on<UpdateMessage>(channelNames.updateActivated, (message) => {
      if (message.version !== undefined && message.release !== undefined) {
        this._setActive(message.host, message.remote, message.version, message.release);
      }
      this._recordUpdate(message);
    });
    this._on<UpdateMessage>(channelNames.updateRefused, (message) => this._recordUpdate(message));
  }

  override disable(): void {
    super.disable();
    const state = this._state;
    if (!state) return;
    for (const unsubscribe of state.unsubscribe.splice(0)) unsubscribe();
  }

  protected override _updateMetricInstruments(): void {
    this._instruments = createInstruments(this.meter, () => this._state);
  }

  private _ensureState(): State {
    this._state ??= { active: new Map(), breakers: new Map(), spans: new WeakMap(), unsubscribe: [] };
    return this._state;
  }

  private _on<T>(name: string, handler: (message: T) => void): void {
    const listener = (message: unknown) => this._guarded(name, () => handler(message as T));
    diagnosticsChannel.subscribe(name, listener);
    this._ensureState().unsubscribe.push(() => diagnosticsChannel.unsubscribe(name, listener));
  }

  /** Spans for one tracing channel: started in the `start` store's transform (so they are active), ended at settle. */
  private _traceOperation<K extends FerryOperation>(operation: K, name: string): void {
    const channel = diagnosticsChannel.tracingChannel<Context, FerryOperations[K]>(name);
    const state = this._ensureState();
    const store = otelStore() as unknown as Parameters<typeof channel.start.bindStore>[0];
    channel.start.bindStore(store, (traceContext) => {
      const parent = context.active();
      // A transform that throws would reach the process as an uncaught exception (node:diagnostics_channel): never.
      return this._guarded(name, () => startSpan(traceContext, parent), parent);
    });
    const startSpan = (traceContext: FerryOperations[K], parent: Context): Context => {
      const span = this.tracer.startSpan(
        spanNameOf(operation, traceContext),
        { kind: SpanKind.INTERNAL, attributes: startAttributes(operation, traceContext) },
        parent,
      );
      state.spans.set(traceContext, span);
      this._hook('startSpanHook', span, { operation, context: traceContext } as FerryHookInfo);
      return trace.setSpan(parent, span);
    };
    const settle = (traceContext: FerryOperations[K]) => {
      const span = state.spans.get(traceContext);
      if (!span) return;
      state.spans.delete(traceContext);
      span.setAttributes(endAttributes(operation, traceContext));
      if (operation === 'import' && traceContext.error === undefined) {
        const { host, remote, version, release } = traceContext as ImportTraceContext;
        if (version !== undefined && release !== undefined) this._setActive(host, remote, version, release);
      }
      if (traceContext.error !== undefined) {
        const error = traceContext.error;
        span.recordException(error instanceof Error ? error : String(error));
        span.setAttribute('error.type', errorTypeOf(error));
        span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
        if (operation === 'manifest' || operation === 'file') this._recordVerification(traceContext, error);
      }
      this._hook('endSpanHook', span, { operation, context: traceContext } as FerryHookInfo);
      span.end();
    };
    const onError = (traceContext: FerryOperations[K]) => {
      // A verification failure counts even when no span was started for it (file spans turned off).
      if (!state.spans.has(traceContext) && (operation === 'manifest' || operation === 'file')) {
        this._recordVerification(traceContext, traceContext.error);
      }
    };
    const asyncEnd = (message: unknown) => this._guarded(name, () => settle(message as FerryOperations[K]));
    const error = (message: unknown) => this._guarded(name, () => onError(message as FerryOperations[K]));
    channel.asyncEnd.subscribe(asyncEnd);
    channel.error.subscribe(error);
    state.unsubscribe.push(() => {
      channel.start.unbindStore(store);
      channel.asyncEnd.unsubscribe(asyncEnd);
      channel.error.unsubscribe(error);
    });
  }

  /**
   * Runs the instrumentation's own work for a channel message: an exception in a subscriber or a store transform would
   * reach the host as an uncaught exception, so it is logged (OpenTelemetry's diag logger) and `fallback` returned.
   */
  private _guarded<T>(channel: string, work: () => T, fallback?: T): T {
    try {
      return work();
    } catch (error) {
      this._diag.error(`ferry instrumentation failed on ${channel}`, error);
      return fallback as T;
    }
  }

  private _hook(which: 'startSpanHook' | 'endSpanHook', span: Span, info: FerryHookInfo): void {
    const hook = this.getConfig()[which];
    if (!hook) return;
    safeExecuteInTheMiddle(
      () => hook(span, info),
      (error) => {
        if (error) this._diag.error(`ferry instrumentation: ${which} threw`, error);
      },
      true,
    );
  }

  /** A point event on the active span (the ferry operation it happened in, or the caller's). */
  private _event(name: string, attributes: Attributes): void {
    trace.getActiveSpan()?.addEvent(name, attributes);
  }

  private _where(message: { host: string; remote?: string }): Attributes {
    return {
      [attributeNames.host]: message.host,
      ...(message.remote === undefined ? {} : { [attributeNames.remote]: message.remote }),
    };
  }

  private _setActive(host: string, remote: string, version: string, release: number): void {
    const key = `${host}\0${remote}`;
    const active = this._ensureState().active;
    const before = active.get(key)?.before ?? new Set<string>();
    before.add(version);
    active.set(key, { host, remote, version, release, before });
  }

  private _recordImport(message: ImportEndMessage | ImportErrorMessage, error?: Error): void {
    this._instruments?.importDuration.record(message.durationMs / 1000, {
      ...this._where(message),
      [attributeNames.expose]: message.expose,
      ...(error === undefined ? {} : { 'error.type': errorTypeOf(error) }),
    });
  }

  private _recordVerification(where: { host: string; remote: string }, error: unknown): void {
    const code = errorTypeOf(error);
    if (!VERIFICATION_CODES.has(code)) return;
    this._instruments?.verificationFailures.add(1, {
      ...this._where(where),
      [attributeNames.verificationReason]: code,
    });
  }

  private _recordUpdate(message: UpdateMessage): void {
    this._instruments?.updateOutcomes.add(1, {
      ...this._where(message),
      [attributeNames.updateOutcome]: message.type,
      ...(message.reason === undefined ? {} : { [attributeNames.updateReason]: message.reason }),
    });
    this._event(`ferry.update.${message.type}`, {
      ...this._where(message),
      ...(message.version === undefined ? {} : { [attributeNames.version]: message.version }),
      ...(message.previous === undefined ? {} : { [attributeNames.previousVersion]: message.previous }),
      ...(message.reason === undefined ? {} : { [attributeNames.updateReason]: message.reason }),
      ...(message.error === undefined ? {} : { 'error.type': errorTypeOf(message.error) }),
    });
  }
}
