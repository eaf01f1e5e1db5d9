/**
 * What the inspector remembers about one host between requests: recent events and import timings, and each remote's
 * last live-update check and outcome, taken from ferry's diagnostics channels (only messages whose `host` is this
 * host's name). Bounded: the newest `limit` events and imports are kept.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import {
  type BreakerMessage,
  type CacheMessage,
  channelNames,
  type FallbackMessage,
  type ImportEndMessage,
  type ImportErrorMessage,
  type ManifestMessage,
  type UpdateMessage,
  type WarningMessage,
} from '../runtime/channels.ts';
import { redactText } from './redact.ts';

/** One line of the inspector's "recent events". */
export interface InspectorEvent {
  at: string;
  /** The channel's short name: `import:error`, `cache`, `breaker`, `update:refused`, … */
  type: string;
  remote?: string;
  /** One line, URLs without credentials or query strings. */
  summary: string;
  /** The ferry error code or warning code, when there is one. */
  code?: string;
}

/** One finished import. */
export interface InspectorImport {
  at: string;
  remote: string;
  expose: string;
  durationMs: number;
  version?: string;
  code?: string;
}

/** A remote's last live-update check and last outcome (activated or refused). */
export interface UpdateRecord {
  at: string;
  type: UpdateMessage['type'];
  trigger?: string;
  version?: string;
  previous?: string;
  reason?: string;
  code?: string;
}

const codeOf = (error: unknown): string | undefined => {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
};
const firstSentence = (error: unknown): string =>
  redactText(String((error as Error | undefined)?.message ?? error).split('. ')[0] ?? '');

export class Recorder {
  readonly events: InspectorEvent[] = [];
  readonly imports: InspectorImport[] = [];
  readonly lastCheck = new Map<string, UpdateRecord>();
  readonly lastUpdate = new Map<string, UpdateRecord>();
  readonly #host: string;
  readonly #limit: number;
  readonly #onChange: (event: InspectorEvent) => void;
  readonly #unsubscribe: Array<() => void> = [];

  constructor(host: string, limit: number, onChange: (event: InspectorEvent) => void) {
    this.#host = host;
    this.#limit = limit;
    this.#onChange = onChange;
    // A successful import is an import timing, not an event: a busy host would push everything else out of the list.
    this.#on<ImportEndMessage>(channelNames.importEnd, (m) =>
      this.#import({ remote: m.remote, expose: m.expose, durationMs: m.durationMs, version: m.version }),
    );
    this.#on<ImportErrorMessage>(channelNames.importError, (m) => {
      const code = codeOf(m.error);
      this.#import({ remote: m.remote, expose: m.expose, durationMs: m.durationMs, ...(code ? { code } : {}) });
      this.#event('import:error', m.remote, firstSentence(m.error), code);
    });
    this.#on<ManifestMessage>(channelNames.manifest, (m) =>
      this.#event('manifest', m.remote, `${m.version} (release ${m.release}, ${m.signed ? 'signed' : 'unsigned'})`),
    );
    this.#on<CacheMessage>(channelNames.cache, (m) =>
      this.#event('cache', m.remote, `${m.event}: ${m.version}, ${Math.round(m.ageMs / 1000)} s old`, codeOf(m.error)),
    );
    this.#on<BreakerMessage>(channelNames.breaker, (m) =>
      this.#event('breaker', m.remote, `${m.state} after ${m.failures} failure(s)`),
    );
    this.#on<FallbackMessage>(channelNames.fallback, (m) =>
      this.#event('fallback', m.remote, `local fallback for ${m.expose}: ${firstSentence(m.error)}`, codeOf(m.error)),
    );
    this.#on<WarningMessage>(channelNames.warning, (m) =>
      this.#event('warning', m.remote, firstSentence(m.message), m.code),
    );
    for (const name of [
      channelNames.updateCheck,
      channelNames.updateFound,
      channelNames.updateActivated,
      channelNames.updateRefused,
      channelNames.updateDisposed,
    ]) {
      this.#on<UpdateMessage>(name, (m) => this.#update(m));
    }
  }

  /** Stops listening. */
  close(): void {
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
  }

  #on<T extends { host: string }>(name: string, handler: (message: T) => void): void {
    const listener = (message: unknown) => {
      if ((message as T | undefined)?.host !== this.#host) return;
      // A subscriber that throws reaches the host as an uncaught exception (node:diagnostics_channel): the inspector
      // loses one line rather than take the host down.
      try {
        handler(message as T);
      } catch {}
    };
    diagnosticsChannel.subscribe(name, listener);
    this.#unsubscribe.push(() => diagnosticsChannel.unsubscribe(name, listener));
  }

  #push<T>(list: T[], item: T): void {
    list.push(item);
    if (list.length > this.#limit) list.splice(0, list.length - this.#limit);
  }

  #import(item: Omit<InspectorImport, 'at'>): void {
    this.#push(this.imports, { at: new Date().toISOString(), ...item });
    this.#onChange({ at: new Date().toISOString(), type: 'import', remote: item.remote, summary: '' });
  }

  #event(type: string, remote: string | undefined, summary: string, code?: string): void {
    const event: InspectorEvent = {
      at: new Date().toISOString(),
      type,
      ...(remote === undefined ? {} : { remote }),
      summary: redactText(summary),
      ...(code === undefined ? {} : { code }),
    };
    this.#push(this.events, event);
    this.#onChange(event);
  }

  #update(m: UpdateMessage): void {
    const code = codeOf(m.error);
    const record: UpdateRecord = {
      at: new Date().toISOString(),
      type: m.type,
      ...(m.trigger === undefined ? {} : { trigger: m.trigger }),
      ...(m.version === undefined ? {} : { version: m.version }),
      ...(m.previous === undefined ? {} : { previous: m.previous }),
      ...(m.reason === undefined ? {} : { reason: m.reason }),
      ...(code === undefined ? {} : { code }),
    };
    if (m.type === 'check') this.lastCheck.set(m.remote, record);
    if (m.type === 'activated' || m.type === 'refused') this.lastUpdate.set(m.remote, record);
    const what = [m.version, m.previous && `(was ${m.previous})`, m.reason && `reason: ${m.reason}`, m.trigger]
      .filter(Boolean)
      .join(' ');
    this.#event(`update:${m.type}`, m.remote, what || m.type, code);
  }
}
