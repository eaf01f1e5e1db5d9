/**
 * Many ferry hosts in one process, for the fleet axis (bench/scale-fleet.ts): `count` independent createHost()
 * instances (each its own cache folder, its own HTTP connections and, with push, its own event stream), all on one
 * remote, each serving its expose through a live binding. Prints `ready` once every host serves the first version;
 * then, for each line `await <version>` on stdin, prints one JSON line with the wall-clock time (epoch ms) at which
 * each host activated that version (its `onUpdate` event `activated`), once all have or after 30 s.
 */
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

interface Job {
  ferry: string;
  url: string;
  publicKey: string;
  count: number;
  first: number;
  mode: 'push' | 'poll';
  pollInterval: number;
  cacheRoot: string;
}
const job = JSON.parse(process.argv[2]!) as Job;
const { createHost } = (await import(pathToFileURL(job.ferry).href)) as typeof import('../src/index.ts');

const activated = new Map<string, number[]>();
// When each host first checked after the build (the event arrived, or its poll fired) and found the new version.
const checked: number[] = [];
const found: number[] = [];
let watching = false;
let refused = 0;
const errors: string[] = [];
const hosts: Array<ReturnType<typeof createHost>> = [];
const bindings: Array<{ version(): string }> = [];
// Started in groups so that the start-up itself does not look like a flood to the server.
for (let i = 0; i < job.count; i += 25) {
  await Promise.all(
    Array.from({ length: Math.min(25, job.count - i) }, async (_, k) => {
      const host = createHost({
        name: `fleetHost${job.first + i + k}`,
        remotes: { fleet: { url: job.url, publicKey: job.publicKey } },
        cache: { dir: join(job.cacheRoot, `${job.first + i + k}`) },
        live: {
          push: job.mode === 'push',
          // With push, polling runs only while the stream is down (its default interval).
          ...(job.mode === 'poll' ? { pollInterval: job.pollInterval } : {}),
          drainTimeout: 0,
          onUpdate: (event) => {
            if (watching && event.type === 'check') checked.push(Date.now());
            if (event.type === 'found' && event.version !== '1.0.0') found.push(Date.now());
            if (event.type === 'activated' && event.version) {
              const list = activated.get(event.version) ?? [];
              list.push(Date.now());
              activated.set(event.version, list);
            }
            if (event.type === 'refused') {
              refused++;
              if (errors.length < 5) errors.push(event.error?.message ?? String(event.reason));
            }
          },
        },
        onWarning: () => {},
      });
      hosts.push(host);
      bindings.push(await host.live<{ version(): string }>('fleet/x'));
    }),
  );
}
console.log('ready');
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'watch') watching = true;
  if (line.startsWith('await ')) {
    const version = line.slice(6);
    const deadline = Date.now() + 30_000;
    while ((activated.get(version)?.length ?? 0) < job.count && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // Every binding must now answer with the new version: activation is what the host serves.
    const serving = bindings.filter((binding) => binding.version() === version).length;
    console.log(JSON.stringify({ times: activated.get(version) ?? [], checked, found, serving, refused, errors }));
  }
  if (line === 'close') break;
}
await Promise.all(hosts.map((host) => host.close()));
process.exit(0);
