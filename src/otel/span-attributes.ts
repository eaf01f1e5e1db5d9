/**
 * Span names and attributes for each traced operation, from its tracing-channel context: low-cardinality names
 * (`ferry import authService/tokenValidator`, `ferry manifest authService`), identifying attributes when the span
 * starts, and what the context learnt (version, release, source, outcome) when it ends.
 */
import type { Attributes } from '@opentelemetry/api';
import type {
  FileTraceContext,
  ImportTraceContext,
  ManifestTraceContext,
  UpdateTraceContext,
} from '../runtime/channels.ts';
import { attributeNames } from './semantics.ts';

/** The operations ferry traces, and the context object each one's hooks receive. */
export interface FerryOperations {
  import: ImportTraceContext;
  manifest: ManifestTraceContext;
  file: FileTraceContext;
  update: UpdateTraceContext;
}
export type FerryOperation = keyof FerryOperations;

export function spanNameOf(operation: FerryOperation, traceContext: FerryOperations[FerryOperation]): string {
  if (operation === 'import') return `ferry import ${(traceContext as ImportTraceContext).specifier}`;
  return `ferry ${operation} ${traceContext.remote}`;
}

export function startAttributes(operation: FerryOperation, traceContext: FerryOperations[FerryOperation]): Attributes {
  const attributes: Attributes = {
    [attributeNames.host]: traceContext.host,
    [attributeNames.remote]: traceContext.remote,
  };
  if (operation === 'import') attributes[attributeNames.expose] = (traceContext as ImportTraceContext).expose;
  if (operation === 'manifest' || operation === 'file') {
    attributes['url.full'] = (traceContext as ManifestTraceContext | FileTraceContext).url;
  }
  if (operation === 'file') {
    const { file, version } = traceContext as FileTraceContext;
    Object.assign(attributes, { [attributeNames.file]: file, [attributeNames.version]: version });
  }
  if (operation === 'update') attributes[attributeNames.updateTrigger] = (traceContext as UpdateTraceContext).trigger;
  return attributes;
}

export function endAttributes(operation: FerryOperation, traceContext: FerryOperations[FerryOperation]): Attributes {
  const attributes: Attributes = {};
  const set = (name: string, value: string | number | boolean | undefined) => {
    if (value !== undefined) attributes[name] = value;
  };
  if (operation === 'import' || operation === 'manifest') {
    const known = traceContext as ImportTraceContext | ManifestTraceContext;
    set(attributeNames.version, known.version);
    set(attributeNames.release, known.release);
    set(attributeNames.source, known.source);
  }
  if (operation === 'import') set(attributeNames.fallback, (traceContext as ImportTraceContext).fallback);
  if (operation === 'manifest') set(attributeNames.signed, (traceContext as ManifestTraceContext).signed);
  if (operation === 'file') {
    const { source, bytes } = traceContext as FileTraceContext;
    set(attributeNames.source, source);
    set(attributeNames.fileBytes, bytes);
  }
  if (operation === 'update') {
    const { status, version, previous, reason } = traceContext as UpdateTraceContext;
    set(attributeNames.updateOutcome, status);
    set(attributeNames.version, version);
    set(attributeNames.previousVersion, previous);
    set(attributeNames.updateReason, reason);
  }
  return attributes;
}
