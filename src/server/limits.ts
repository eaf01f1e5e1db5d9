/**
 * The server's resource limits, so that idle subscribers, slow clients and half-open connections cannot deny service
 * to everyone: how many event-stream subscribers one folder keeps (`maxSubscribers`; beyond it a subscriber gets
 * 503 and its host polls), how long one push stream lives (`streamLifetime`; the host reconnects by itself and gets
 * the current manifest at once, so nothing is missed), and, for the ready-made server, how many connections it holds
 * and how long a connection may sit idle or take to send its request.
 *
 * The defaults follow the process's descriptor limit (Linux: /proc/self/limits), because descriptors are what runs
 * out first: every connection holds one, every file being served another. Half of them may be subscribers (at most
 * 10 000, about 27 KiB each, ~270 MiB), and two thirds connections, which leaves at a 1024 limit 512 subscribers, 640
 * connections and the rest for files and Node itself; at a generous limit (65 536 and up) 10 000 subscribers. Where
 * the limit cannot be read the defaults assume 8192 (4096 subscribers).
 */
import { readFileSync } from 'node:fs';
import { InvalidOptionError } from '../common/errors.ts';

/** Limits of `createRequestHandler()` (per served folder). */
export interface HandlerLimits {
  /** Event-stream subscribers kept at once; more get 503 with `Retry-After` and poll. Default: see the module. */
  maxSubscribers?: number;
  /**
   * Milliseconds after which a push stream is ended so its connection is recycled (each stream gets 90–100 % of it,
   * so subscribers that came together do not all reconnect together). Default 600 000 (10 min); `Infinity`: never.
   */
  streamLifetime?: number;
}

/** Limits of `createFerryServer()`: the handler's, plus the node:http server's connection limits. */
export interface ServerLimits extends HandlerLimits {
  /** Connections held at once; more are closed at once (server.maxConnections). Default: see the module. */
  maxConnections?: number;
  /** Milliseconds to receive a request's headers (default 10 000). */
  headersTimeout?: number;
  /** Milliseconds to receive a whole request (default 30 000). */
  requestTimeout?: number;
  /** Milliseconds an idle keep-alive connection is kept (default 5 000). */
  keepAliveTimeout?: number;
  /**
   * Milliseconds a connection may go without any byte moving either way, e.g. a client that stopped reading a
   * file (default 60 000; push streams send a comment every 15 s, so a live subscriber never reaches it).
   */
  idleTimeout?: number;
}

export type ResolvedServerLimits = Readonly<Required<ServerLimits>>;

const FALLBACK_DESCRIPTORS = 8192;
const MAX_DEFAULT_SUBSCRIBERS = 10_000;

/**
 * The soft limit on open descriptors of this process, from /proc/self/limits; undefined where it cannot be read
 * (not Linux) or is unlimited.
 */
export function descriptorLimit(): number | undefined {
  try {
    const line = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return line ? Number(line[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The default limits for a descriptor limit (see the module's comment for the reasoning). */
export function defaultLimits(descriptors = descriptorLimit() ?? FALLBACK_DESCRIPTORS): ResolvedServerLimits {
  return {
    maxSubscribers: Math.max(1, Math.min(MAX_DEFAULT_SUBSCRIBERS, Math.floor(descriptors / 2))),
    maxConnections: Math.max(16, Math.floor((descriptors * 2) / 3)),
    streamLifetime: 600_000,
    headersTimeout: 10_000,
    requestTimeout: 30_000,
    keepAliveTimeout: 5_000,
    idleTimeout: 60_000,
  };
}

const HANDLER_KEYS = ['maxSubscribers', 'streamLifetime'] as const;
const SERVER_KEYS = [
  ...HANDLER_KEYS,
  'maxConnections',
  'headersTimeout',
  'requestTimeout',
  'keepAliveTimeout',
  'idleTimeout',
] as const;
const COUNTS = new Set<string>(['maxSubscribers', 'maxConnections']);

/**
 * Checks `limits` for `caller` (`createRequestHandler()` or `createFerryServer()`): unknown keys are refused by name,
 * counts are whole numbers of at least 1, durations positive milliseconds (`Infinity` for `streamLifetime` only).
 */
export function resolveLimits(
  raw: unknown,
  caller: 'createRequestHandler()' | 'createFerryServer()',
  defaults: ResolvedServerLimits = defaultLimits(),
): ResolvedServerLimits {
  if (raw === undefined) return Object.freeze({ ...defaults });
  const invalid = (option: string, message: string): never => {
    throw new InvalidOptionError(`${caller} option "limits${option}" ${message}`, { option: `limits${option}` });
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    invalid('', 'must be an object such as { maxSubscribers: 2000 }.');
  }
  const known: readonly string[] = caller === 'createFerryServer()' ? SERVER_KEYS : HANDLER_KEYS;
  const resolved: Record<string, number> = { ...defaults };
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (!known.includes(key)) {
      const serverOnly = (SERVER_KEYS as readonly string[]).includes(key)
        ? ' (a node:http server setting: set it on your own server, or use createFerryServer())'
        : '';
      invalid('', `has an unknown key "${key}"${serverOnly}; the keys are ${known.join(', ')}.`);
    }
    if (value === undefined) continue;
    if (COUNTS.has(key)) {
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
        invalid(`.${key}`, `must be a whole number of at least 1, got ${shown(value)}.`);
      }
    } else if (!(typeof value === 'number' && value > 0 && (Number.isFinite(value) || key === 'streamLifetime'))) {
      const never = key === 'streamLifetime' ? ' (Infinity: streams are never ended)' : '';
      invalid(`.${key}`, `must be a positive number of milliseconds${never}, got ${shown(value)}.`);
    }
    resolved[key] = value as number;
  }
  return Object.freeze(resolved) as unknown as ResolvedServerLimits;
}

function shown(value: unknown): string {
  return typeof value === 'number' ? String(value) : (JSON.stringify(value) ?? String(value));
}
