/**
 * The remotes of the remotes axis (bench/scale.ts), in a process of their own: one createFerryServer per build output
 * folder, so that serving 50 remotes does not run on the measuring process's event loop. Prints one JSON line with
 * the manifest URL of each folder, in order. Each line on stdin is a command, answered with the line `ok`:
 * `down <n>` closes the first n servers (the remotes-down phase), `up <n>` starts them again on the same ports.
 */
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

const [dirsJson, ferryServer] = process.argv.slice(2) as [string, string];
const dirs = JSON.parse(dirsJson) as string[];
const { createFerryServer } = (await import(
  pathToFileURL(ferryServer).href
)) as typeof import('../src/server/index.ts');
type Server = Awaited<ReturnType<typeof createFerryServer>>;

const servers: Array<Server | undefined> = [];
for (const dir of dirs) servers.push(await createFerryServer({ dir, port: 0, host: '127.0.0.1' }));
const ports = servers.map((server) => Number(new URL(server!.url).port));
console.log(JSON.stringify(servers.map((server) => `${server!.url}mf-manifest.json`)));

for await (const line of createInterface({ input: process.stdin })) {
  const [command, count] = line.split(' ');
  const first = dirs.slice(0, Number(count)).map((_, index) => index);
  if (command === 'down') {
    await Promise.all(first.map((index) => servers[index]?.close()));
    for (const index of first) servers[index] = undefined;
  } else if (command === 'up') {
    for (const index of first) {
      servers[index] ??= await createFerryServer({ dir: dirs[index]!, port: ports[index]!, host: '127.0.0.1' });
    }
  }
  console.log('ok');
}
await Promise.all(servers.map((server) => server?.close()));
