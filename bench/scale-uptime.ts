/**
 * The uptime axis of bench/scale.ts: one host, one remote of one ~200 KB expose (generated code, as a ferry module,
 * with its source map), `--swaps N` live swaps (a new signed version written, `host.update()`, the live binding
 * answering with it), in one process. Every 25 swaps: heap after GC, RSS, external memory and V8's code space,
 * so that a growth shows what holds it. Prints one JSON line. Run with --expose-gc.
 *
 * The remote (writing each version, signing it, serving it) runs in a child process of its own (`--publisher`), so
 * that what it allocates is not counted against the host.
 *
 * `--baseline`: the same versions without ferry, the least any loader of new code does in a process: each version's
 * source made into bytes and decoded, compiled with node:vm `compileFunction` (through the runtime's `compileUncached`:
 * V8's compilation cache off for the call, as ferry does, else the cache alone keeps every version), run, its
 * namespace kept until the next one replaces it. What V8 does with the process's memory over the swaps shows here
 * too, so the difference is ferry's.
 *
 * `--commonjs`: the same code as a CommonJS module, loaded through the remote's container (ferry's other compile
 * site); with `--baseline`, compiled with CommonJS's parameters and run without ferry.
 */
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { getHeapSpaceStatistics } from 'node:v8';
import { toFerryModule } from '../src/build/ferry-module.ts';
import { FERRY_MODULE_PARAMETERS } from '../src/common/module-namespace.ts';
import { createHost } from '../src/index.ts';
import { publicKeyOf, signManifest } from '../src/manifest/index.ts';
import { compileUncached } from '../src/runtime/evaluate/compile-uncached.ts';
import { startLoopback } from '../test/helpers/loopback.ts';
import { writeRemoteOutput } from '../test/helpers/remote-output.ts';
import { moduleSource } from './scale-fixtures.ts';

const { values } = parseArgs({
  allowNegative: true,
  options: {
    swaps: { type: 'string', default: '1000' },
    maps: { type: 'boolean', default: true },
    publisher: { type: 'string' },
    baseline: { type: 'boolean', default: false },
    commonjs: { type: 'boolean', default: false },
  },
});
const swaps = Number(values.swaps);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc && !values.publisher) throw new Error('scale-uptime: run with --expose-gc');
const dir = values.publisher ?? mkdtempSync(join(tmpdir(), 'ferry-uptime-'));
const { privateKey } = generateKeyPairSync('ed25519');
// The ~200 KB module is generated once; each version changes one line of it, as a new build of the same code would.
// `--commonjs`: the same code as a CommonJS module (its `export { … }` made `module.exports = { … }`), loaded through
// the remote's container, as builds of CommonJS sources and builds before ES module output are.
const source = moduleSource(4242, 200_000, { shared: false, version: '@VERSION@' });
const base = values.commonjs
  ? source.replace(/^export \{([^}]*)\};$/m, 'module.exports = {$1};')
  : await toFerryModule(source, 'x.js', (s) => s);
if (values.commonjs && !base.includes('module.exports = {')) throw new Error('scale-uptime: no export list to convert');
const CJS_PARAMETERS = ['exports', 'require', 'module', '__filename', '__dirname'];
const lines = base.split('\n').length;
// A plausible source map (one mapping per line) so that the runtime's map handling is part of what is measured.
const map = JSON.stringify({
  version: 3,
  sources: ['x.ts'],
  names: [],
  mappings: Array.from({ length: lines }, () => 'AAAA').join(';'),
});

async function publish(i: number): Promise<void> {
  const version = `1.0.${i}`;
  const code = base.replaceAll('@VERSION@', version);
  const { bytes } = await writeRemoteOutput(join(dir, 'remote'), {
    name: 'uptime',
    version,
    release: i + 1,
    format: values.commonjs ? 'commonjs' : 'esm',
    exposes: { './x': { code, ...(values.maps ? { map } : {}) } },
  });
  writeFileSync(join(dir, 'remote', 'mf-manifest.json.sig'), signManifest(bytes, privateKey));
}

if (values.publisher) {
  // The remote's process: serves `dir`, writes version N on each line `N`, answers `ok`.
  await publish(0);
  const server = await startLoopback(join(dir, 'remote'));
  console.log(JSON.stringify({ url: server.url, publicKey: publicKeyOf(privateKey) }));
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'close') break;
    await publish(Number(line));
    console.log('ok');
  }
  await server.close();
  process.exit(0);
}

const rssMiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;
const sample = (swap: number) => {
  gc!();
  gc!();
  const memory = process.memoryUsage();
  const spaces = getHeapSpaceStatistics();
  const code = spaces.find((space) => space.space_name === 'code_space');
  return {
    swap,
    heapMiB: memory.heapUsed / 2 ** 20,
    heapTotalMiB: memory.heapTotal / 2 ** 20,
    rssMiB: rssMiB(),
    externalMiB: memory.external / 2 ** 20,
    arrayBuffersMiB: memory.arrayBuffers / 2 ** 20,
    codeSpaceMiB: (code?.space_used_size ?? 0) / 2 ** 20,
    // What V8 has reserved per space (heapTotal is their sum): which one grows says what the growth is.
    spacesMiB: Object.fromEntries(spaces.map((space) => [space.space_name, space.space_size / 2 ** 20])),
  };
};

/** Runs `swap(1)` … `swap(swaps)`, sampling every 25; the samples and how long the swaps took. */
async function runSwaps(swap: (i: number) => Promise<void>) {
  const samples = [sample(0)];
  const started = performance.now();
  for (let i = 1; i <= swaps; i++) {
    await swap(i);
    await new Promise((resolve) => setImmediate(resolve));
    if (i % 25 === 0) samples.push(sample(i));
  }
  return { samples, seconds: (performance.now() - started) / 1000 };
}

if (values.baseline) {
  // No ferry: compile and run each version as the host would, nothing else (no fetch, verification, cache or swap).
  let current: { version: () => () => string } | undefined;
  const { samples, seconds } = await runSwaps(async (i) => {
    const source = Buffer.from(base.replaceAll('@VERSION@', `1.0.${i}`)).toString('utf8');
    const filename = `file:///uptime/1.0.${i}/x.js`;
    if (values.commonjs) {
      // CommonJS: the module's function run with its own `module`; its exports are what is kept.
      const fn = compileUncached(source, CJS_PARAMETERS, { filename }) as (...args: unknown[]) => void;
      const module = { exports: {} as Record<string, () => string> };
      fn(module.exports, () => ({}), module, filename, '/uptime');
      const exports = module.exports;
      current = { version: () => exports['version']! };
    } else {
      const fn = compileUncached(source, [...FERRY_MODULE_PARAMETERS], { filename }) as (
        ...args: unknown[]
      ) => Promise<typeof current>;
      const imports = async () => ({});
      // The namespace is the module's getters as they are (ferry wraps them in a live namespace object).
      current = await fn(
        () => ({}),
        imports,
        imports,
        (getters: unknown) => getters,
        () => ({}),
        {},
        undefined,
        undefined,
      );
    }
    if (current?.version()() !== `1.0.${i}`) throw new Error(`baseline swap ${i}: version ${current?.version()()}`);
  });
  rmSync(dir, { recursive: true, force: true });
  console.log(JSON.stringify({ swaps, bytes: Buffer.byteLength(base), seconds, samples }));
  process.exit(0);
}

const remote = spawn(
  process.execPath,
  [
    import.meta.filename,
    '--publisher',
    dir,
    ...(values.maps ? [] : ['--no-maps']),
    ...(values.commonjs ? ['--commonjs'] : []),
  ],
  { stdio: ['pipe', 'pipe', 'inherit'] },
);
const answers = createInterface({ input: remote.stdout! })[Symbol.asyncIterator]();
const nextLine = async () => (await answers.next()).value as string;
const { url, publicKey } = JSON.parse(await nextLine()) as { url: string; publicKey: string };
const host = createHost({
  name: 'uptimeHost',
  remotes: { uptime: { url: `${url}mf-manifest.json`, publicKey } },
  cache: { dir: join(dir, '.cache') },
  live: { pollInterval: false, push: false, drainTimeout: 0 },
  onWarning: () => {},
});
const live = await host.live<{ version(): string }>('uptime/x');
const { samples, seconds } = await runSwaps(async (i) => {
  remote.stdin!.write(`${i}\n`);
  await nextLine();
  const [outcome] = await host.update('uptime');
  if (outcome?.status !== 'activated' || live.version() !== `1.0.${i}`) {
    throw new Error(`swap ${i}: ${outcome?.status} ${outcome?.error?.message ?? ''}`);
  }
});
await host.close();
remote.stdin!.write('close\n');
await new Promise((resolve) => remote.once('exit', resolve));
rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify({ swaps, bytes: Buffer.byteLength(base), seconds, samples }));
