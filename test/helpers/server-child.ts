/**
 * `createFerryServer()` in a child process, for tests that measure or starve the server's process without touching
 * the test runner's: its memory (`rss`), and its file descriptors (`exhaust` opens /dev/null until the process is out
 * of descriptors, `release` closes them again; `fds` lists the files it has open), and what reached its `onError`
 * (`errors`: their codes). Run as `node server-child.ts '<json options>'`; it prints one JSON line
 * `{ "url": … }` when it listens, then one JSON line per command read from stdin.
 */
import { closeSync, openSync, readdirSync, readlinkSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { createFerryServer, type FerryServerOptions } from '../../src/server/index.ts';

const options = JSON.parse(process.argv[2] ?? '{}') as FerryServerOptions;
const errors: string[] = [];
const server = await createFerryServer({
  ...options,
  port: 0,
  onError: (error) => errors.push(String((error as NodeJS.ErrnoException).code ?? error)),
});
const held: number[] = [];
const reply = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
reply({ url: server.url });

for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'rss') {
    reply({ rss: process.memoryUsage().rss });
  } else if (line === 'exhaust') {
    for (;;) {
      try {
        held.push(openSync('/dev/null', 'r'));
      } catch (error) {
        reply({ held: held.length, code: (error as NodeJS.ErrnoException).code });
        break;
      }
    }
  } else if (line === 'fds') {
    const open = readdirSync('/proc/self/fd').flatMap((fd) => {
      try {
        return [readlinkSync(`/proc/self/fd/${fd}`)];
      } catch {
        return []; // the descriptor readdir itself used, closed by now
      }
    });
    reply({ files: open.filter((target) => target.startsWith('/')) });
  } else if (line === 'errors') {
    reply({ errors });
  } else if (line === 'release') {
    for (const fd of held.splice(0)) closeSync(fd);
    reply({ released: true });
  }
}
await server.close();
