/**
 * `ferry/inspector`: a read-only page and JSON about one running host (remotes, versions, where each copy came from,
 * breakers, live updates, the federation graph, shared packages, recent events), for node:http, express and fastify.
 * Imports flow inspector -> runtime (types, channel names), manifest, common; nothing imports it.
 */

export type { GraphEdge, GraphNode } from './graph.ts';
export { createInspector, type InspectorHandler, type InspectorOptions } from './inspector.ts';
export type { InspectorEvent, InspectorImport, UpdateRecord } from './recorder.ts';
export type { InspectedRemote, InspectorSnapshot } from './snapshot.ts';
