/**
 * Remote code as teams write it (ES modules): a real TypeScript remote built by the CLI whose exposes use top-level
 * await, `import.meta.url`/`dirname`/`filename`/`resolve`, a file beside the code read through
 * `new URL('./data.txt', import.meta.url)`, files shipped by an `assets` glob, `import()` of the remote's own modules
 * (split into a chunk), ESM-only packages from the registry (nanoid 5, p-limit 6), and a CommonJS expose using
 * `__dirname`. The host runs in a separate process, as in production, and reports what each expose saw.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createHost, IntegrityError } from '../src/index.ts';
import { parseManifest } from '../src/manifest/index.ts';
import { entryNameOf } from '../src/runtime/cache/file-cache.ts';
import { createFerryServer } from '../src/server/index.ts';
import { runFerry, runProcess } from './helpers/build-fixture.ts';
import { npmPackage } from './helpers/npm-packages.ts';
import { createTempProject, REPO_ROOT } from './helpers/temp-project.ts';

const SOURCES: Record<string, string> = {
  'package.json': JSON.stringify({ name: 'toolbox', version: '1.0.0', type: 'module' }),
  'ferry.config.json': JSON.stringify({
    name: 'toolbox',
    dts: false,
    assets: ['config/*.json'],
    exposes: {
      './meta': './src/meta.ts',
      './tla': './src/tla.ts',
      './data': './src/data.ts',
      './lazy': './src/lazy.ts',
      './ids': './src/ids.ts',
      './legacy': './src/legacy.cjs',
    },
  }),
  'src/meta.ts': [
    'export const url = import.meta.url;',
    'export const dirname = import.meta.dirname;',
    'export const filename = import.meta.filename;',
    "export const resolved = import.meta.resolve('./data.txt');",
  ].join('\n'),
  'src/tla.ts': [
    'const config = await new Promise<{ n: number }>((resolve) => setTimeout(() => resolve({ n: 42 }), 20));',
    'export const n = config.n;',
  ].join('\n'),
  'src/data.ts': [
    "import { readFileSync } from 'node:fs';",
    "import { join } from 'node:path';",
    "export const text = readFileSync(new URL('./data.txt', import.meta.url), 'utf8');",
    "export const settings = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'config', 'settings.json'), 'utf8'));",
  ].join('\n'),
  'src/data.txt': 'beside the code\n',
  'config/settings.json': '{ "mode": "shipped by a glob" }\n',
  'src/lazy.ts': [
    'export async function load(): Promise<string> {',
    "  const heavy = await import('./heavy.ts');",
    '  return heavy.value;',
    '}',
  ].join('\n'),
  'src/heavy.ts': "export const value: string = 'loaded on demand';\n",
  'src/ids.ts': [
    "import { nanoid } from 'nanoid';",
    "import pLimit from 'p-limit';",
    'const limit = pLimit(2);',
    'export const ids = await Promise.all([1, 2, 3].map(() => limit(async () => nanoid(10))));',
  ].join('\n'),
  'src/legacy.cjs': [
    "const { readFileSync } = require('node:fs');",
    "const { join } = require('node:path');",
    "module.exports = { text: readFileSync(join(__dirname, 'data.txt'), 'utf8'), file: __filename };",
  ].join('\n'),
};

const HOST = `
import { createHost } from ${JSON.stringify(join(REPO_ROOT, 'src', 'index.ts'))};
const host = createHost({ name: 'h', remotes: { toolbox: process.env.URL }, cache: { dir: process.env.CACHE },
  onWarning: () => {} });
const meta = await host.import('toolbox/meta');
const tla = await host.import('toolbox/tla');
const data = await host.import('toolbox/data');
const lazy = await host.import('toolbox/lazy');
const ids = await host.import('toolbox/ids');
const legacy = await host.import('toolbox/legacy');
console.log(JSON.stringify({
  meta: { ...meta }, n: tla.n, text: data.text, settings: data.settings, lazy: await lazy.load(), ids: ids.ids,
  legacy: { ...legacy }, tag: Object.prototype.toString.call(meta),
}));
await host.close();
`;

test('ES module exposes: top-level await, import.meta, files beside the code, import(), ESM-only packages, CommonJS', async () => {
  await using project = await createTempProject(SOURCES);
  const modules = project.path('node_modules');
  await mkdir(modules, { recursive: true });
  await symlink(await npmPackage('nanoid', '5.1.6'), join(modules, 'nanoid'), 'dir');
  await symlink(await npmPackage('p-limit', '6.2.0'), join(modules, 'p-limit'), 'dir');
  const built = await runFerry(['build'], { cwd: project.dir });
  assert.equal(built.code, 0, built.stdout + built.stderr);
  assert.doesNotMatch(built.stdout + built.stderr, /not available with the cjs output format|Top-level await/);

  const outDir = project.path('dist', 'federation');
  const manifest = parseManifest(await readFile(join(outDir, 'mf-manifest.json')), 'mf-manifest.json');
  const { files, exposes, assets } = manifest.ferry;
  assert.deepEqual(Object.keys(assets ?? {}).sort(), ['config/settings.json', 'src/data.txt']);
  for (const file of Object.values(assets ?? {})) assert.equal(files[file]?.type, 'asset', file);
  const chunks = Object.keys(files).filter((name) => /^chunk\.[A-Z0-9]{8}\.js$/.test(name));
  assert.ok(chunks.length >= 1, `import('./heavy.ts') is a chunk of its own: ${Object.keys(files).join(', ')}`);
  for (const name of [...chunks, ...Object.values(exposes).map((expose) => expose.file)]) {
    assert.equal(files[name]?.type, 'esm', `${name} is a ferry module`);
  }
  // Each expose says whether its source is CommonJS, so a host loads it without the container.
  for (const [key, expose] of Object.entries(exposes)) assert.equal(expose.commonjs, key === './legacy', key);

  const server = await createFerryServer({ dir: outDir, port: 0 });
  try {
    const cache = project.path('host-cache');
    await writeFile(project.path('host.mjs'), HOST);
    const host = await runProcess(process.execPath, [project.path('host.mjs')], {
      cwd: project.dir,
      env: { ...process.env, URL: `${server.url}mf-manifest.json`, CACHE: cache },
    });
    assert.equal(host.code, 0, host.stderr);
    const seen = JSON.parse(host.stdout.trim().split('\n').at(-1)!);
    const versionDir = join(cache, 'versions');
    assert.match(seen.meta.url, /^file:\/\/.*\/versions\/toolbox@1\.0\.0-[\w-]+\/src\/meta\.ts$/);
    assert.ok(seen.meta.filename.startsWith(versionDir) && seen.meta.filename.endsWith('/src/meta.ts'));
    assert.equal(seen.meta.dirname, join(seen.meta.filename, '..'));
    assert.equal(fileURLToPath(seen.meta.url), seen.meta.filename, 'import.meta.url names import.meta.filename');
    assert.equal(seen.meta.resolved, new URL('./data.txt', seen.meta.url).href);
    assert.equal(seen.tag, '[object Module]', 'an ES module expose gives its namespace');
    assert.equal(seen.n, 42, 'top-level await');
    assert.equal(seen.text, 'beside the code\n', "new URL('./data.txt', import.meta.url)");
    assert.deepEqual(seen.settings, { mode: 'shipped by a glob' }, 'an assets glob, read through import.meta.dirname');
    assert.equal(seen.lazy, 'loaded on demand', 'import() of a chunk');
    assert.equal(seen.ids.length, 3);
    for (const id of seen.ids) assert.match(id, /^[\w-]{10}$/, 'nanoid 5 and p-limit 6 (ESM only) are bundled');
    assert.equal(seen.legacy.text, 'beside the code\n', '__dirname in a CommonJS expose');
    assert.ok(seen.legacy.file.startsWith(versionDir) && seen.legacy.file.endsWith('/src/legacy.cjs'));
    // The exposes were loaded without the container: it was neither fetched (so never cached) nor run.
    const container = entryNameOf(files[manifest.ferry.remoteEntry]!.integrity);
    const cached = await readdir(join(cache, 'files'));
    assert.ok(!cached.includes(container), 'the container is not in the host cache');
    assert.ok(cached.includes(entryNameOf(files[exposes['./meta']!.file]!.integrity)));
  } finally {
    await server.close();
  }
});

test('an asset changed on the server is refused; the laid-out copy is read-only and checked again when reused', async () => {
  await using project = await createTempProject({
    'package.json': JSON.stringify({ name: 'files', version: '1.0.0', type: 'module' }),
    'ferry.config.json': JSON.stringify({ name: 'files', dts: false, exposes: { './data': './src/data.ts' } }),
    'src/data.ts':
      "import { readFileSync } from 'node:fs';\nexport const read = () => readFileSync(new URL('./data.txt', import.meta.url), 'utf8');\n",
    'src/data.txt': 'original\n',
  });
  const built = await runFerry(['build'], { cwd: project.dir });
  assert.equal(built.code, 0, built.stdout + built.stderr);
  const outDir = project.path('dist', 'federation');
  const manifest = parseManifest(await readFile(join(outDir, 'mf-manifest.json')), 'mf-manifest.json');
  const asset = manifest.ferry.assets?.['src/data.txt'];
  assert.ok(asset);
  const server = await createFerryServer({ dir: outDir, port: 0 });
  const cache = project.path('host-cache');
  const options = { name: 'h', remotes: { files: server.url }, cache: { dir: cache }, onWarning: () => {} };
  try {
    const host = createHost(options);
    const data = await host.import<{ read(): string }>('files/data');
    assert.equal(data.read(), 'original\n');
    await host.close();

    // The copy on disk is read-only; changed behind the host's back, a new host lays out the verified bytes again.
    const versions = join(cache, 'versions');
    const [folder] = await readdir(versions);
    const copy = join(versions, folder!, 'src', 'data.txt');
    assert.equal(((await stat(copy)).mode & 0o777).toString(8), '444');
    await chmod(copy, 0o644);
    await writeFile(copy, 'changed on disk\n');
    const again = createHost(options);
    assert.equal((await again.import<{ read(): string }>('files/data')).read(), 'original\n');
    await again.close();

    // The server's copy is changed: a fresh host refuses the version (its code never runs).
    await writeFile(join(outDir, asset), 'tampered\n');
    const fresh = createHost({ ...options, cache: { dir: project.path('fresh-cache') } });
    await assert.rejects(fresh.import('files/data'), (error: unknown) => error instanceof IntegrityError);
    await fresh.close();
  } finally {
    await server.close();
  }
});
