/**
 * Stack traces for remote code. Node never applies source maps to code compiled with node:vm, so the runtime keeps
 * the verified map of every compiled file and maps frames itself, through an `Error.prepareStackTrace` that composes
 * with whatever hook was installed before it (another tool's, or none).
 *
 * A map is parsed and decoded (node:module `SourceMap`) the first time a stack trace passes through its file, not
 * when the file is loaded: most loaded files never throw, the first decode costs ~2 ms (Node loads its source-map
 * support then), and the verified bytes are kept by the version anyway, so a parsed copy made at load was CPU and heap
 * spent on every load and every live update for nothing (issue 21: the uptime axis's allocation per swap).
 */
import type { SourceMap, SourceMapPayload } from 'node:module';

/** A registered map: its verified bytes, parsed and decoded on first use. */
export interface RegisteredSourceMap {
  readonly bytes: Uint8Array;
  /** Told once, after the stack trace that found the map unreadable (never from inside the trace's formatting). */
  readonly unreadable: (reason: string) => void;
  /** The decoded map; null when it could not be parsed or decoded. */
  decoded?: SourceMap | null;
}

const maps = new Map<string, RegisteredSourceMap>();
let installed = false;

/**
 * Remembers the map (its verified bytes, not parsed yet) for a compiled file name (`ferry://remote@version/file.js`)
 * and installs the hook once. `unreadable` is called at most once, when a stack trace first needs the map and it
 * cannot be parsed or decoded.
 */
export function registerSourceMap(
  filename: string,
  bytes: Uint8Array,
  unreadable: (reason: string) => void,
): RegisteredSourceMap {
  const map: RegisteredSourceMap = { bytes, unreadable };
  maps.set(filename, map);
  install();
  return map;
}

/** Forgets the map of `filename` if it is still `map` (a newer build of the same version may have replaced it). */
export function unregisterSourceMap(filename: string, map: RegisteredSourceMap): void {
  if (maps.get(filename) === map) maps.delete(filename);
}

/** The decoded map, or undefined when it cannot be parsed or decoded (then frames keep their bundle positions). */
function decodeMap(map: RegisteredSourceMap): SourceMap | undefined {
  if (map.decoded === undefined) {
    try {
      const payload = JSON.parse(Buffer.from(map.bytes).toString('utf8')) as Partial<SourceMapPayload> | null;
      // Node's decoder takes any object and maps nothing: say what is wrong instead.
      if (payload?.version !== 3 || typeof payload.mappings !== 'string' || !Array.isArray(payload.sources)) {
        throw new Error('not a version 3 source map: `version` 3, `sources` a list and `mappings` a string');
      }
      const { SourceMap: Decoder } = process.getBuiltinModule('node:module') as typeof import('node:module');
      map.decoded = new Decoder(payload as SourceMapPayload);
    } catch (error) {
      map.decoded = null;
      // Reported after the trace is formatted: a warning handler that builds an error of its own would otherwise
      // run inside this hook.
      const reason = error instanceof Error ? error.message : String(error);
      setImmediate(() => map.unreadable(reason)).unref();
    }
  }
  return map.decoded ?? undefined;
}

/** Forgets the maps of files whose name starts with `prefix` (a disposed remote version or a closed host). */
export function unregisterSourceMaps(prefix: string): void {
  for (const filename of maps.keys()) if (filename.startsWith(prefix)) maps.delete(filename);
}

interface Position {
  source: string;
  line: number;
  column: number;
}

function lookup(filename: string | undefined | null, line: number | null, column: number | null): Position | undefined {
  if (!filename || line === null || column === null) return undefined;
  const registered = maps.get(filename);
  if (!registered) return undefined;
  const map = decodeMap(registered);
  if (!map) return undefined;
  // findEntry takes and returns zero-based positions; findOrigin was measured off by columns.
  const entry = map.findEntry(line - 1, column - 1) as Partial<{
    originalSource: string;
    originalLine: number;
    originalColumn: number;
  }>;
  if (entry.originalSource === undefined || entry.originalLine === undefined || entry.originalColumn === undefined) {
    return undefined;
  }
  const base = filename.slice(0, filename.lastIndexOf('/') + 1);
  return { source: `${base}${entry.originalSource}`, line: entry.originalLine + 1, column: entry.originalColumn + 1 };
}

/** A call site whose file, line and column are the original source's; everything else is delegated. */
function mappedCallSite(site: NodeJS.CallSite, position: Position): NodeJS.CallSite {
  const location = `${position.source}:${position.line}:${position.column}`;
  return new Proxy(site, {
    get(target, key) {
      if (key === 'getFileName' || key === 'getScriptNameOrSourceURL') return () => position.source;
      if (key === 'getLineNumber') return () => position.line;
      if (key === 'getColumnNumber') return () => position.column;
      if (key === 'toString') {
        return () => {
          const name = target.getFunctionName() ?? target.getMethodName();
          const prefix = target.isAsync() ? 'async ' : target.isConstructor() ? 'new ' : '';
          return name ? `${prefix}${name} (${location})` : `${prefix}${location}`;
        };
      }
      const value = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

function install(): void {
  if (installed) return;
  installed = true;
  const previous = Error.prepareStackTrace;
  Error.prepareStackTrace = (error, sites) => {
    const mapped =
      maps.size === 0
        ? sites
        : sites.map((site) => {
            const position = lookup(site.getFileName(), site.getLineNumber(), site.getColumnNumber());
            return position ? mappedCallSite(site, position) : site;
          });
    if (previous) return previous(error, mapped);
    const header = formatHeader(error);
    return mapped.length === 0 ? header : `${header}\n    at ${mapped.map(String).join('\n    at ')}`;
  };
}

function formatHeader(error: Error): string {
  try {
    return Error.prototype.toString.call(error);
  } catch {
    return '<error>';
  }
}
