/**
 * Micro-benchmarks of what ferry adds per load, run on the bench's own build of the demo remote:
 *
 * - `verifyCost`: the host's checks, in-process — the Ed25519 signature over the manifest's exact bytes (with the
 *   signature-file canonical check the runtime does), parsing the manifest, and sha384 of every file the host
 *   fetches (remoteEntry.js, the expose bundle, its map), repeated many times per batch.
 * - `compileCost`: node:vm `compileFunction` of the remote's files in a fresh process (so V8's in-process
 *   compilation cache cannot help), without and with a V8 code cache produced by an earlier process. The runtime
 *   does not use a code cache yet; this says how much one could save on this remote.
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
import { verifySignatureFile } from '../src/runtime/signature-file.ts';

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
  const manifest = parseManifest(manifestBytes, MANIFEST_FILE);
  // What a host fetches at start-up for ./tokenValidator: the container, the bundle and its map.
  const files = Object.keys(manifest.ferry.files).filter((name) => !name.endsWith('.d.ts') && name !== 'package.json');
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

/** Compile times in a fresh process, in milliseconds: without a code cache, and with one made beforehand. */
export interface CompileCost {
  files: string[];
  bytes: number;
  coldMs: number[];
  cachedMs: number[];
  rejected: number;
}

const PROBE = `
const { compileFunction } = require('node:vm');
const { readFileSync, writeFileSync } = require('node:fs');
const [mode, cacheFile, ...files] = process.argv.slice(1);
const params = ['exports', 'require', 'module', '__filename', '__dirname'];
const sources = files.map((f) => readFileSync(f, 'utf8'));
const caches = mode === 'cached' ? JSON.parse(readFileSync(cacheFile, 'utf8')).map((b) => Buffer.from(b, 'base64')) : [];
let rejected = 0;
const produced = [];
const t0 = performance.now();
sources.forEach((source, i) => {
  const options = { filename: 'ferry://bench/' + i + '.js' };
  if (mode === 'cached') options.cachedData = caches[i];
  if (mode === 'produce') options.produceCachedData = true;
  const fn = compileFunction(source, params, options);
  if (mode === 'cached' && fn.cachedDataRejected) rejected++;
  if (mode === 'produce') produced.push(fn.cachedData.toString('base64'));
});
const ms = performance.now() - t0;
if (mode === 'produce') writeFileSync(cacheFile, JSON.stringify(produced));
process.stdout.write(JSON.stringify({ ms, rejected }));
`;

/** Compiles the remote's JavaScript files in fresh processes, `runs` times each way (interleaved). */
export function compileCost(dir: string, cacheFile: string, runs: number): CompileCost {
  const manifest = parseManifest(readFileSync(join(dir, MANIFEST_FILE)), MANIFEST_FILE);
  const files = Object.keys(manifest.ferry.files).filter((name) => name.endsWith('.js'));
  const paths = files.map((name) => join(dir, name));
  const probe = (mode: string) => {
    const out = spawnSync(process.execPath, ['-e', PROBE, mode, cacheFile, ...paths], { encoding: 'utf8' });
    if (out.status !== 0) throw new Error(`compile probe failed: ${out.stderr}`);
    return JSON.parse(out.stdout) as { ms: number; rejected: number };
  };
  probe('produce');
  const result: CompileCost = {
    files,
    bytes: paths.reduce((sum, path) => sum + readFileSync(path).byteLength, 0),
    coldMs: [],
    cachedMs: [],
    rejected: 0,
  };
  for (let i = 0; i < runs; i++) {
    result.coldMs.push(probe('cold').ms);
    const cached = probe('cached');
    result.cachedMs.push(cached.ms);
    result.rejected += cached.rejected;
  }
  return result;
}
