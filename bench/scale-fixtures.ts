/**
 * Fixtures of the scale benchmark (bench/scale.ts): generated, realistic module source of a chosen size (functions
 * with object literals, loops, string and array work, classes — not one long string), written twice from the same
 * text: as ES module files a local app imports, and as a signed ferry remote (the same text rewritten as ferry
 * modules by the build's own `toFerryModule`, a container, a manifest with sizes and sha384 integrities, an Ed25519
 * signature), laid out by hand so that 50 remotes cost no 50 esbuild runs.
 */
import type { KeyObject } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { toFerryModule } from '../src/build/ferry-module.ts';
import { signatureFileFor, signManifest } from '../src/manifest/index.ts';
import { writeRemoteOutput } from '../test/helpers/remote-output.ts';

/** The shared singleton every generated module imports (a package in the host's and the local app's node_modules). */
export const SHARED = 'scale-shared';

/** One generated function: about 600 bytes of ordinary application code, distinct per `seed` and `i`. */
function unit(seed: number, i: number): string {
  const id = `${seed}_${i}`;
  return `
const config${id} = { id: ${i}, name: 'item-${id}', limits: { min: ${i % 7}, max: ${(i % 13) + 20} }, tags: ['a${i % 5}', 'b${i % 3}', 'c'], enabled: ${i % 2 === 0} };
function compute${id}(input, options = {}) {
  const values = Array.isArray(input) ? input : [input];
  let total = 0;
  for (let k = 0; k < values.length; k++) {
    const value = Number(values[k]) || 0;
    total += value > config${id}.limits.max ? config${id}.limits.max : Math.max(value, config${id}.limits.min);
  }
  const label = \`\${config${id}.name}:\${options.prefix ?? 'x'}:\${total.toFixed(2)}\`;
  shared.count('${id}');
  return { total, label, tags: config${id}.tags.filter((tag) => tag !== options.skip), ok: config${id}.enabled };
}
class Model${id} {
  #items = new Map();
  add(key, value) { this.#items.set(String(key), { value, at: ${i} }); return this; }
  get size() { return this.#items.size; }
  toJSON() { return Object.fromEntries([...this.#items].map(([k, v]) => [k, v.value])); }
}
const make${id} = () => new Model${id}().add('${id}', compute${id}([${i}, ${i + 1}]).total);
`;
}

/** ES module source of about `bytes` bytes: imports the shared singleton, exports `run()` and its functions. */
export function moduleSource(
  seed: number,
  bytes: number,
  options: { shared?: boolean; version?: string } = {},
): string {
  const withShared = options.shared ?? true;
  const head = withShared ? `import shared from '${SHARED}';\n` : 'const shared = { count() {} };\n';
  const parts: string[] = [head];
  let size = head.length;
  let count = 0;
  while (size < bytes - 200) {
    const text = unit(seed, count++);
    parts.push(text);
    size += text.length;
  }
  // run() touches a few functions so that an import is not only a parse: the module runs some of its code.
  const called = Array.from({ length: Math.min(count, 5) }, (_, i) => `compute${seed}_${i}([1, 2, 3]).total`);
  // One export statement at the end, as esbuild writes a bundle (what toFerryModule expects).
  const names = Array.from({ length: count }, (_, i) => `compute${seed}_${i}, make${seed}_${i}`);
  parts.push(`function run() { return ${called.join(' + ') || '0'}; }\nconst units = ${count};\n`);
  parts.push(`function version() { return ${JSON.stringify(options.version ?? '1.0.0')}; }\n`);
  parts.push(`export { run, units, version, ${names.join(', ')} };\n`);
  return parts.join('');
}

/** The shared package: a CommonJS singleton that counts calls (its identity shows whether it was shared). */
export async function writeSharedPackage(nodeModules: string): Promise<void> {
  const dir = join(nodeModules, SHARED);
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, 'package.json'),
    `${JSON.stringify({ name: SHARED, version: '1.0.0', main: 'index.js' })}\n`,
  );
  await writeFile(
    join(dir, 'index.js'),
    `'use strict';\nconst counts = new Map();\nmodule.exports = { id: Symbol('scale-shared'), count(key) { counts.set(key, (counts.get(key) ?? 0) + 1); }, counts };\n`,
  );
}

/** Writes `sources` (expose key -> ES module text) as ES module files under `dir` (`<key>.mjs`), for a local app. */
export async function writeLocalModules(dir: string, sources: Record<string, string>): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [key, text] of Object.entries(sources)) await writeFile(join(dir, `${key.slice(2)}.mjs`), text);
}

export interface ScaleRemote {
  name: string;
  version: string;
  release: number;
  /** expose key ('./x0') -> ES module source */
  sources: Record<string, string>;
}

/**
 * Writes `remote` as a signed ferry build output in `dir` (ferry modules from the same source text; the signature
 * under both its names, as `ferry build` writes it). `maps`: each
 * expose with a source map as `ferry build` writes one (esbuild's, without the sources' content: ~0.9× the code here),
 * made from the source text; its mappings do not match the rewritten module, which only a stack trace would notice.
 */
export async function writeFerryRemote(
  dir: string,
  remote: ScaleRemote,
  key: KeyObject,
  options: { shared?: boolean; maps?: boolean } = {},
): Promise<void> {
  const exposes: Record<string, { code: string; shared: string[]; map?: string }> = {};
  for (const [expose, text] of Object.entries(remote.sources)) {
    const code = await toFerryModule(text, `${expose.slice(2)}.js`, (s) => s);
    exposes[expose] = { code, shared: options.shared === false ? [] : [SHARED] };
    if (options.maps) {
      const { transform } = await import('esbuild');
      const { map } = await transform(text, {
        sourcemap: 'external',
        sourcesContent: false,
        sourcefile: `${expose.slice(2)}.ts`,
        loader: 'js',
        format: 'esm',
      });
      exposes[expose].map = map;
    }
  }
  const { bytes } = await writeRemoteOutput(dir, {
    name: remote.name,
    version: remote.version,
    release: remote.release,
    format: 'esm',
    exposes,
    ...(options.shared === false
      ? {}
      : { shared: { [SHARED]: { version: '1.0.0', singleton: true, requiredVersion: '^1.0.0', fallback: false } } }),
  });
  // As `ferry build` writes them: the copy named for the manifest's bytes, and the fixed name.
  const signature = signManifest(bytes, key);
  await writeFile(join(dir, signatureFileFor(bytes)), signature);
  await writeFile(join(dir, 'mf-manifest.json.sig'), signature);
}
