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
 * `variant: 'floor'` does the least that any runtime which loads signed code over HTTP must do, with Node's own
 * primitives and no ferry (see {@link floorHost}); its figures are the reference for what is ferry's own cost.
 *
 * The parent measures from spawn to that line ("from process start"); this process adds what it saw itself.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

interface Job {
  kind: 'remotes' | 'bundle';
  variant: 'ferry' | 'local' | 'floor';
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
  /**
   * floor: alias -> the remote's own folder, standing for a cache of it (ferry's cache holds the same bytes): the
   * floor then asks each remote whether its manifest changed, and reads the files from there when it did not (a 304)
   * or when the remote is down. Absent: a cold start, everything from the network.
   */
  floorDirs?: Record<string, string>;
  /** floor: the parameter names a ferry module's function body is compiled with (`FERRY_MODULE_PARAMETERS`). */
  floorParameters?: readonly string[];
}

type Module = { run(): number };

/**
 * The floor: what any host that loads signed code over HTTP does for an import, and nothing else, written with Node's
 * primitives as directly as they allow. Per remote: the manifest and its signature (or, with a copy on disk, one
 * conditional request for the manifest, answered 304, or refused when the remote is down, then the copy), the Ed25519
 * signature verified against the pinned key, the manifest parsed; per expose: its file (from the network, or the copy),
 * its size and SHA-384 checked against the manifest, compiled with node:vm and run, the shared package taken from the
 * host's node_modules. No cache is written, nothing is validated beyond the signature and the hashes, and there are no
 * deadlines, retries, warnings, release floors, live updates or diagnostics channels: what ferry adds over this is the
 * cost of those.
 */
async function floorHost(
  job: Job,
  started: number,
): Promise<{ imported: Module[]; importSecond?: () => Promise<Module[]>; setupMs: number; close(): Promise<void> }> {
  const { createPublicKey, hash, verify } = process.getBuiltinModule('node:crypto');
  const http = process.getBuiltinModule('node:http');
  const { compileFunction } = process.getBuiltinModule('node:vm');
  const setupMs = performance.now() - started;
  const agent = new http.Agent({ keepAlive: true });
  const get = (url: string, etag?: string) =>
    new Promise<{ status: number; bytes: Buffer }>((resolve, reject) => {
      const headers = etag ? { 'if-none-match': etag } : {};
      http
        .get(url, { agent, headers }, (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, bytes: Buffer.concat(chunks) }));
          response.on('error', reject);
        })
        .on('error', reject);
    });
  const fetched = async (url: string) => {
    const answer = await get(url);
    if (answer.status !== 200) throw new Error(`${url} answered ${answer.status}`);
    return answer.bytes;
  };
  const hostRequire = createRequire(join(job.root, 'package.json'));
  const load = async (specifier: string) => ({ default: hostRequire(specifier) });
  const namespace = Object.assign((exports: object) => exports, { accessors: (list: object) => list });
  // A ferry module's parameters, in their order (src/common/module-namespace.ts, handed over by scale.ts).
  const parameters = job.floorParameters ?? [];
  // The pinned key, parsed once (ferry, too, parses each distinct key once per process).
  const key = createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: job.publicKey.slice('ed25519:'.length) },
    format: 'jwk',
  });
  const remotes = new Map<string, Promise<{ url: string; manifest: FloorManifest; dir?: string | undefined }>>();
  const remote = (alias: string) => {
    let pending = remotes.get(alias);
    if (!pending) {
      pending = (async () => {
        const url = job.remotes[alias]!;
        const signatureUrl = new URL('mf-manifest.json.sig', url).href;
        const dir = job.floorDirs?.[alias];
        let bytes: Buffer;
        let signature: Buffer;
        let fromDisk = false;
        if (dir) {
          const copy = readFileSync(join(dir, 'mf-manifest.json'));
          const answer = await get(url, `"sha384-${hash('sha384', copy, 'base64')}"`).catch(() => undefined);
          fromDisk = answer === undefined || answer.status === 304;
          bytes = fromDisk ? copy : answer!.bytes;
          signature = fromDisk ? readFileSync(join(dir, 'mf-manifest.json.sig')) : await fetched(signatureUrl);
        } else {
          [bytes, signature] = await Promise.all([fetched(url), fetched(signatureUrl)]);
        }
        const { signature: base64 } = JSON.parse(signature.toString()) as { signature: string };
        if (!verify(null, bytes, key, Buffer.from(base64, 'base64'))) throw new Error(`${url}: bad signature`);
        return { url, manifest: JSON.parse(bytes.toString()) as FloorManifest, dir: fromDisk ? dir : undefined };
      })();
      remotes.set(alias, pending);
    }
    return pending;
  };
  const importExpose = async (specifier: string): Promise<Module> => {
    const [alias, ...path] = specifier.split('/');
    const { url, manifest, dir } = await remote(alias!);
    const file = manifest.ferry.exposes[`./${path.join('/')}`]!.file;
    const entry = manifest.ferry.files[file]!;
    const bytes = dir ? readFileSync(join(dir, file)) : await fetched(new URL(file, url).href);
    if (bytes.byteLength !== entry.size || `sha384-${hash('sha384', bytes, 'base64')}` !== entry.integrity) {
      throw new Error(`${file}: not the bytes the manifest names`);
    }
    const run = compileFunction(bytes.toString(), parameters, { filename: new URL(file, url).href });
    const meta = { url: new URL(file, url).href, filename: file, dirname: '' };
    return (await run(hostRequire, load, load, namespace, () => meta, meta, file, '')) as Module;
  };
  const imported = await Promise.all(job.specifiers.map(importExpose));
  const second = job.second;
  return {
    imported,
    ...(second ? { importSecond: () => Promise.all(second.specifiers.map(importExpose)) } : {}),
    setupMs,
    close: async () => agent.destroy(),
  };
}

interface FloorManifest {
  ferry: { exposes: Record<string, { file: string }>; files: Record<string, { size: number; integrity: string }> };
}

const job = JSON.parse(process.argv[2]!) as Job;
const started = performance.now();
let imported: Module[];
let importSecond: (() => Promise<Module[]>) | undefined;
let close = async () => {};
// ferry only: loading ferry and createHost(), before the first import starts (the local app has no such step).
let setupMs = 0;
if (job.variant === 'floor') {
  ({ imported, importSecond, setupMs, close } = await floorHost(job, started));
} else if (job.variant === 'local') {
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
