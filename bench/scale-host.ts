/**
 * A process of the scale benchmark (bench/scale.ts), started fresh for every sample. Its one argument is a JSON job:
 *
 * - `{ kind: 'remotes', variant: 'ferry' | 'local', ... }`: imports every expose of every remote (ferry: one host,
 *   all remotes, the shared singleton from `root`'s node_modules; local: `import()` of the same source files), then
 *   prints one JSON line with the time it took in process, RSS and the check that the singleton was shared.
 * - `{ kind: 'bundle', variant, ..., second }`: the same for one expose, timing only the import itself; then, with
 *   `second`, the import of another module of the same size in the same process (ferry loaded and the remote's
 *   manifest verified; the local app past its first import), timed on its own (`secondMs`). RSS is read before it.
 *
 * The parent measures from spawn to that line ("from process start"); this process adds what it saw itself.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

interface Job {
  kind: 'remotes' | 'bundle';
  variant: 'ferry' | 'local';
  /** The folder whose node_modules holds the shared package. */
  root: string;
  /** ferry: remote alias -> manifest URL */
  remotes: Record<string, string>;
  publicKey: string;
  cacheDir: string;
  /** local: module files to import */
  files: string[];
  /** ferry: specifiers to import */
  specifiers: string[];
  /** bundle: what to import next, in the same process, timed on its own */
  second?: { files: string[]; specifiers: string[] };
  /** ferry's dist/index.js */
  ferry: string;
}

const job = JSON.parse(process.argv[2]!) as Job;
const started = performance.now();
let imported: Array<{ run(): number }>;
let importSecond: (() => Promise<Array<{ run(): number }>>) | undefined;
let close = async () => {};
// ferry only: loading ferry and createHost(), before the first import starts (the local app has no such step).
let setupMs = 0;
if (job.variant === 'local') {
  imported = await Promise.all(job.files.map((file) => import(pathToFileURL(file).href)));
  const second = job.second;
  if (second) importSecond = () => Promise.all(second.files.map((file) => import(pathToFileURL(file).href)));
} else {
  const { createHost } = (await import(pathToFileURL(job.ferry).href)) as typeof import('../src/index.ts');
  const host = createHost({
    name: 'scaleHost',
    root: job.root,
    remotes: Object.fromEntries(
      Object.entries(job.remotes).map(([alias, url]) => [alias, { url, publicKey: job.publicKey }]),
    ),
    shared: { 'scale-shared': { singleton: true, requiredVersion: '^1.0.0' } },
    cache: { dir: job.cacheDir },
    live: { pollInterval: false, push: false },
    onWarning: () => {},
  });
  setupMs = performance.now() - started;
  imported = (await Promise.all(job.specifiers.map((specifier) => host.import(specifier)))) as typeof imported;
  const second = job.second;
  if (second) {
    importSecond = async () =>
      (await Promise.all(second.specifiers.map((specifier) => host.import(specifier)))) as typeof imported;
  }
  close = () => host.close();
}
const importMs = performance.now() - started;
let sum = 0;
for (const module of imported) sum += module.run();
// The singleton is the host's own copy: every module counted into the same Map.
const shared = createRequire(join(job.root, 'package.json'))('scale-shared') as { counts: Map<string, number> };
const rssMiB = Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;
let secondMs: number | undefined;
if (importSecond) {
  const before = performance.now();
  const more = await importSecond();
  secondMs = performance.now() - before;
  for (const module of more) sum += module.run();
}
console.log(
  JSON.stringify({
    importMs,
    setupMs,
    ...(secondMs === undefined ? {} : { secondMs }),
    sinceStartMs: performance.now(),
    rssMiB,
    modules: imported.length,
    sum,
    sharedKeys: shared.counts.size,
  }),
);
await close();
