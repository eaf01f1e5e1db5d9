/**
 * Micro-benchmarks of what ferry adds per load, run on the bench's own build of the demo remote:
 *
 * - `verifyCost`: the host's checks, in-process — the Ed25519 signature over the manifest's exact bytes (with the
 *   signature-file canonical check the runtime does), parsing the manifest, and sha384 of every file the host
 *   fetches (remoteEntry.js, the expose bundle, its map), repeated many times per batch.
 * - `compileCost`: node:vm `compileFunction` of the remote's files in a fresh process (so V8's in-process
 *   compilation cache cannot help), without and with a V8 code cache (bench/code-cache.ts; the runtime does not use one) made by
 *   an earlier process: what the code cache saves on this remote.
 *
 * @example
 * ```ts
 * const batches = verifyCost(dir, publicKey, { batches: 7, iterations: 500 });
 * ```
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { integrityOf, MANIFEST_FILE, parseManifest, SIGNATURE_FILE } from '../src/manifest/index.ts';
import { verifySignatureFile } from '../src/runtime/trust/signature-file.ts';

/** Per-load cost in microseconds, one figure per batch. */
export interface VerifyCost {
  files: string[];
  bytesHashed: number;
  totalUs: number[];
  signatureUs: number[];
  hashUs: number[];
  parseUs: number[];
}

/** Times the host's verification of the remote in `dir` (a ferry build output folder). */
export function verifyCost(
  dir: string,
  publicKey: string,
  options: { batches: number; iterations: number },
): VerifyCost {
  const manifestBytes = readFileSync(join(dir, MANIFEST_FILE));
  const signatureBytes = readFileSync(join(dir, SIGNATURE_FILE));
  // What a host fetches at start-up for ./tokenValidator: the container, the bundle and its map.
  const files = startupFiles(dir, './tokenValidator').fetched;
  const contents = files.map((name) => readFileSync(join(dir, name)));
  const details = { remote: 'authService', url: 'http://127.0.0.1/mf-manifest.json' };
  const result: VerifyCost = {
    files,
    bytesHashed: manifestBytes.byteLength + contents.reduce((sum, bytes) => sum + bytes.byteLength, 0),
    totalUs: [],
    signatureUs: [],
    hashUs: [],
    parseUs: [],
  };
  let sink = 0;
  for (let batch = 0; batch < options.batches; batch++) {
    let signature = 0;
    let hash = 0;
    let parse = 0;
    for (let i = 0; i < options.iterations; i++) {
      const t0 = performance.now();
      verifySignatureFile(manifestBytes, signatureBytes, [publicKey], details);
      const t1 = performance.now();
      const parsed = parseManifest(manifestBytes, details.url);
      const t2 = performance.now();
      sink += integrityOf(manifestBytes).length;
      files.forEach((name, index) => {
        if (integrityOf(contents[index]!) !== parsed.ferry.files[name]!.integrity) throw new Error(`${name} changed`);
      });
      const t3 = performance.now();
      signature += t1 - t0;
      parse += t2 - t1;
      hash += t3 - t2;
    }
    const per = (ms: number) => (ms * 1000) / options.iterations;
    result.signatureUs.push(per(signature));
    result.parseUs.push(per(parse));
    result.hashUs.push(per(hash));
    result.totalUs.push(per(signature + parse + hash));
  }
  if (sink === 0) throw new Error('unreachable');
  return result;
}

/** Compile times in a fresh process, in milliseconds: without a code cache, and with bench/code-cache.ts. */
export interface CompileCost {
  files: string[];
  bytes: number;
  coldMs: number[];
  cachedMs: number[];
  /** Cache outcomes of the `cachedMs` compiles (all `hit` when V8 accepted every cache). */
  outcomes: Record<string, number>;
}

const CODE_CACHE = join(import.meta.dirname, 'code-cache.ts');

// Runs in a fresh process (so V8's in-memory compilation cache cannot help): compiles the files the way the runtime
// does, with node:vm compileFunction, either plainly or through code-cache.ts with a slot under `cacheDir`.
const PROBE = `
import { compileFunction } from 'node:vm';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { codeCacheSlot, compileWithCodeCache, flushCodeCache } from ${JSON.stringify(CODE_CACHE)};
const [mode, cacheDir, ...files] = process.argv.slice(1);
const params = ['exports', 'require', 'module', '__filename', '__dirname'];
const sources = files.map((f) => readFileSync(f, 'utf8'));
const outcomes = [];
// A host has hashed and read files before it compiles: warm node:crypto and node:fs up the same way here.
createHash('sha256').update('warm-up').digest();
readFileSync(files[0]);
const t0 = performance.now();
sources.forEach((source, i) => {
  const filename = 'ferry://bench/' + i + '.js';
  if (mode === 'cold') compileFunction(source, params, { filename });
  else compileWithCodeCache(source, params, filename, codeCacheSlot(cacheDir, 'sha384-bench' + i, params), (o) => outcomes.push(o));
});
const ms = performance.now() - t0;
await flushCodeCache();
process.stdout.write(JSON.stringify({ ms, outcomes }));
`;

/**
 * Compiles `files` (names in the build output folder `dir`) in fresh processes, `runs` times each way (interleaved):
 * plainly, and through the runtime's code cache kept in `cacheDir` (written by a first process beforehand).
 */
export function compileCost(dir: string, files: string[], cacheDir: string, runs: number): CompileCost {
  const paths = files.map((name) => join(dir, name));
  const probe = (mode: string) => {
    const out = spawnSync(process.execPath, ['--input-type=module', '-e', PROBE, mode, cacheDir, ...paths], {
      encoding: 'utf8',
    });
    if (out.status !== 0) throw new Error(`compile probe failed: ${out.stderr}`);
    return JSON.parse(out.stdout) as { ms: number; outcomes: string[] };
  };
  probe('cached');
  const result: CompileCost = {
    files,
    bytes: paths.reduce((sum, path) => sum + readFileSync(path).byteLength, 0),
    coldMs: [],
    cachedMs: [],
    outcomes: {},
  };
  for (let i = 0; i < runs; i++) {
    result.coldMs.push(probe('cold').ms);
    const cached = probe('cached');
    result.cachedMs.push(cached.ms);
    for (const outcome of cached.outcomes) result.outcomes[outcome] = (result.outcomes[outcome] ?? 0) + 1;
  }
  return result;
}

/**
 * What a host fetches and compiles at start-up for `exposeKey`: remoteEntry.js, the expose bundle (and its map,
 * fetched and hashed but not compiled).
 */
export function startupFiles(dir: string, exposeKey: string): { fetched: string[]; compiled: string[] } {
  const manifest = parseManifest(readFileSync(join(dir, MANIFEST_FILE)), MANIFEST_FILE);
  const expose = manifest.ferry.exposes[exposeKey];
  if (!expose) throw new Error(`the bench remote does not expose ${exposeKey}`);
  const compiled = [manifest.ferry.remoteEntry, expose.file];
  return { fetched: [...compiled, ...(expose.map ? [expose.map] : [])], compiled };
}
