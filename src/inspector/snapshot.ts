/**
 * The inspector's JSON: everything it shows, read from the host's read-only surface (`host.remotes()`,
 * `host.shared()`) and from what the recorder heard on the channels. Nothing here changes the host or loads a remote.
 */
import type { Host } from '../runtime/host.ts';
import type { RemoteStatus } from '../runtime/remotes.ts';
import type { SharedReport } from '../runtime/sharing/sharing.ts';
import { type GraphEdge, type GraphNode, layoutGraph } from './graph.ts';
import type { InspectorEvent, InspectorImport, Recorder, UpdateRecord } from './recorder.ts';
import { keyIdOf, redactText, redactUrl } from './redact.ts';

/** One remote as the inspector shows it. */
export interface InspectedRemote {
  alias: string;
  /** The manifest URL, without credentials or query string. */
  url: string;
  version?: string;
  release?: number;
  /** The first 16 hex digits of the SHA-256 of the pinned key that verified it; absent when unsigned. */
  keyId?: string;
  /** `network`, `cache` (confirmed by a 304), `stale` (remote unavailable), or `none` (not loaded yet). */
  source: 'network' | 'cache' | 'stale' | 'none';
  /** Since when the current version is current. */
  since?: string;
  /** Age of the current copy: of the cached copy when stale, else since it became current (ms). */
  ageMs?: number;
  breaker?: RemoteStatus['breaker'];
  lastError?: RemoteStatus['lastError'];
  lastCheck?: UpdateRecord;
  lastUpdate?: UpdateRecord;
}

/** What `GET <inspector>/api` answers (and `ferry inspect` prints). */
export interface InspectorSnapshot {
  host: string;
  generatedAt: string;
  remotes: InspectedRemote[];
  shared: SharedReport;
  graph: { nodes: GraphNode[]; edges: GraphEdge[]; svg: string };
  imports: InspectorImport[];
  events: InspectorEvent[];
}

export function takeSnapshot(host: Host, recorder: Recorder): InspectorSnapshot {
  const now = Date.now();
  const remotes = Object.entries(host.remotes()).map(([alias, status]): InspectedRemote => {
    const { current } = status;
    const source = status.source === 'cache' ? 'stale' : (current?.source ?? 'none');
    const ageMs = status.staleForMs ?? (current ? Math.max(0, now - Date.parse(current.since)) : undefined);
    const lastCheck = recorder.lastCheck.get(alias);
    const lastUpdate = recorder.lastUpdate.get(alias);
    return {
      alias,
      url: redactUrl(status.url),
      ...(current
        ? {
            version: current.version,
            release: current.release,
            since: current.since,
            ...(current.signedBy === undefined ? {} : { keyId: keyIdOf(current.signedBy) }),
          }
        : {}),
      source,
      ...(ageMs === undefined ? {} : { ageMs }),
      ...(status.breaker ? { breaker: status.breaker } : {}),
      ...(status.lastError
        ? { lastError: { ...status.lastError, message: redactText(status.lastError.message) } }
        : {}),
      ...(lastCheck ? { lastCheck } : {}),
      ...(lastUpdate ? { lastUpdate } : {}),
    };
  });
  const shared = host.shared();
  const graph = federationGraph(host.name, remotes, shared);
  return {
    host: host.name,
    generatedAt: new Date(now).toISOString(),
    remotes,
    shared,
    graph: { ...graph, svg: layoutGraph(graph.nodes, graph.edges) },
    imports: [...recorder.imports].reverse(),
    events: [...recorder.events].reverse(),
  };
}

/** `remote "authService" (./tokenValidator)` / `host "userService" (its own code)` → the node it stands for. */
function nodeOfConsumer(consumer: string, hostName: string): string | undefined {
  const match = /^(remote|host) "([^"]+)"/.exec(consumer);
  if (!match) return undefined;
  return match[1] === 'host' ? `host:${hostName}` : `remote:${match[2]}`;
}

/** Host → remotes (with their versions) → shared packages (provided by, and chosen for, whom). */
function federationGraph(
  hostName: string,
  remotes: InspectedRemote[],
  shared: SharedReport,
): { nodes: GraphNode[]; edges: GraphEdge[] } {
  const nodes: GraphNode[] = [{ id: `host:${hostName}`, column: 0, label: hostName, detail: 'host' }];
  const edges: GraphEdge[] = [];
  const remoteIds = new Set<string>();
  for (const remote of remotes) {
    const id = `remote:${remote.alias}`;
    remoteIds.add(id);
    const detail = remote.version ? `${remote.version} · r${remote.release} · ${remote.source}` : 'not loaded';
    nodes.push({ id, column: 1, label: remote.alias, detail, state: remote.breaker?.state ?? 'closed' });
    edges.push({ from: `host:${hostName}`, to: id, kind: 'loads' });
  }
  const nodeFor = (who: string): string | undefined => {
    if (who === hostName) return `host:${hostName}`;
    return remoteIds.has(`remote:${who}`) ? `remote:${who}` : undefined;
  };
  for (const [scope, modules] of Object.entries(shared)) {
    for (const [name, report] of Object.entries(modules)) {
      const id = `shared:${scope}:${name}`;
      const label = scope === 'default' ? name : `${scope}/${name}`;
      nodes.push({
        id,
        column: 2,
        label,
        detail: report.chosen.length ? `uses ${report.chosen.join(', ')}` : 'unused',
      });
      const seen = new Set<string>();
      for (const use of report.uses) {
        const from = nodeOfConsumer(use.consumer, hostName);
        const key = `${from}|uses|${use.version}`;
        if (!from || seen.has(key)) continue;
        seen.add(key);
        edges.push({ from, to: id, kind: 'uses', label: use.version });
      }
      for (const provided of report.provided) {
        const from = nodeFor(provided.from);
        const key = `${from}|provides|${provided.version}`;
        if (!from || seen.has(key)) continue;
        seen.add(key);
        edges.push({ from, to: id, kind: 'provides', label: provided.version });
      }
    }
  }
  return { nodes, edges };
}
