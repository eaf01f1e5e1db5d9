/**
 * The remote of the fleet axis (bench/scale-fleet.ts), in its own process so that its RSS and descriptors are its
 * own: ferry's createFerryServer (with its push channel) on a build output folder. It counts every request by kind
 * and status and the sockets it accepted; each line `stats` on stdin is answered with one JSON line of the counts.
 */
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

const [dir, ferryServer] = process.argv.slice(2) as [string, string];
const { createFerryServer } = (await import(
  pathToFileURL(ferryServer).href
)) as typeof import('../src/server/index.ts');
const server = await createFerryServer({ dir, port: 0 });
const counts = {
  requests: 0,
  byKind: {} as Record<string, number>,
  byStatus: {} as Record<string, number>,
  sockets: 0,
};
server.server.maxConnections = 100_000;
server.server.on('connection', () => counts.sockets++);
server.server.on('request', (req, res) => {
  counts.requests++;
  const path = req.url ?? '';
  const kind = path.endsWith('.events')
    ? 'events'
    : path.endsWith('.json')
      ? 'manifest'
      : path.endsWith('.sig')
        ? 'signature'
        : 'file';
  counts.byKind[kind] = (counts.byKind[kind] ?? 0) + 1;
  res.once('finish', () => {
    counts.byStatus[res.statusCode] = (counts.byStatus[res.statusCode] ?? 0) + 1;
  });
});
console.log(JSON.stringify({ url: server.url, pid: process.pid }));
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'stats') console.log(JSON.stringify(counts));
  if (line === 'close') break;
}
await server.close();
process.exit(0);
