/**
 * The fallback cache (src/build/fallback-cache.ts): a rebuild takes each shared package's fallback from
 * `node_modules/.cache/ferry/fallbacks/` while nothing it was made from changed, and bundles it again when a file it
 * read, or the install state, changed. Whether an entry was used is shown by planting a marker in it: the marker
 * reaches the output only when the entry is used.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildRemote } from '../src/build/build.ts';
import { FALLBACK_CACHE_DIR } from '../src/build/fallback-cache.ts';
import { runFerry } from './helpers/build-fixture.ts';
import { createTempProject, type TempProject } from './helpers/temp-project.ts';

/** A remote sharing a package of its own node_modules (a real folder, so a test can change its files). */
function createProject(files: Record<string, string> = {}): Promise<TempProject> {
  return createTempProject({
    'package.json': JSON.stringify({ name: 'clock', version: '1.0.0', type: 'module' }),
    'ferry.config.ts': `export default {
  name: 'clock',
  version: '1.0.0',
  exposes: { './now': './src/now.ts' },
  shared: { 'tick-lib': { singleton: true } },
};
`,
    'src/now.ts': "import { tick } from 'tick-lib';\nexport const now = (): string => tick();\n",
    'node_modules/tick-lib/package.json': JSON.stringify({ name: 'tick-lib', version: '2.1.0', main: 'index.js' }),
    'node_modules/tick-lib/index.js': "exports.tick = () => require('./format.js').format('tick-v1');\n",
    'node_modules/tick-lib/format.js': "exports.format = (text) => '[' + text + ']';\n",
    ...files,
  });
}

const cacheDir = (project: TempProject) => join(project.dir, 'node_modules', FALLBACK_CACHE_DIR);

async function entries(project: TempProject): Promise<string[]> {
  return (await readdir(cacheDir(project)).catch(() => [] as string[])).filter((name) => name.endsWith('.json'));
}

/** The bytes of the build's fallback for tick-lib. */
async function fallbackOf(result: Awaited<ReturnType<typeof buildRemote>>): Promise<string> {
  const file = result.manifest.ferry.shared['tick-lib']?.fallback;
  assert.ok(file, 'the build wrote a fallback for tick-lib');
  return readFile(join(result.outDir, file), 'utf8');
}

/** Puts `marker` into the code of the only cache entry, as if an earlier build had made it. */
async function plant(project: TempProject, marker: string): Promise<void> {
  const [name] = await entries(project);
  assert.ok(name, 'the first build kept an entry');
  const file = join(cacheDir(project), name);
  const entry = JSON.parse(await readFile(file, 'utf8')) as { code: string };
  entry.code = `${entry.code}// ${marker}\n`;
  await writeFile(file, JSON.stringify(entry));
}

test('a rebuild reuses the fallback an earlier build kept, byte for byte, and keeps one entry', async () => {
  await using project = await createProject();
  const first = await buildRemote({ root: project.dir, baseline: false });
  assert.deepEqual((await entries(project)).length, 1);
  const kept = JSON.parse(await readFile(join(cacheDir(project), (await entries(project))[0]!), 'utf8')) as {
    inputs: Record<string, string>;
    code: string;
  };
  assert.equal(kept.code, await fallbackOf(first));
  assert.deepEqual(Object.keys(kept.inputs).sort(), [
    'node_modules/tick-lib/format.js',
    'node_modules/tick-lib/index.js',
    'node_modules/tick-lib/package.json',
  ]);

  const second = await buildRemote({ root: project.dir, baseline: false });
  assert.equal(await fallbackOf(second), await fallbackOf(first));
  assert.equal(second.manifest.ferry.shared['tick-lib']?.fallback, first.manifest.ferry.shared['tick-lib']?.fallback);

  await plant(project, 'from the cache');
  const third = await buildRemote({ root: project.dir, baseline: false });
  assert.match(await fallbackOf(third), /from the cache/);
  assert.equal((await entries(project)).length, 1);
});

test('a changed file of the package, even one the entry point only requires, is bundled again', async () => {
  await using project = await createProject();
  await buildRemote({ root: project.dir, baseline: false });
  await plant(project, 'stale');
  await writeFile(
    join(project.dir, 'node_modules/tick-lib/format.js'),
    "exports.format = (text) => '<' + text + '>';\n",
  );
  const rebuilt = await fallbackOf(await buildRemote({ root: project.dir, baseline: false }));
  assert.doesNotMatch(rebuilt, /stale/);
  assert.match(rebuilt, /"<" \+ text \+ ">"/);
});

test('a package whose package.json now names another entry file is bundled again (no JavaScript file changed)', async () => {
  await using project = await createProject({
    'node_modules/tick-lib/other.js': "exports.tick = () => 'from the other entry';\n",
  });
  await buildRemote({ root: project.dir, baseline: false });
  await plant(project, 'the old entry');
  await writeFile(
    join(project.dir, 'node_modules/tick-lib/package.json'),
    JSON.stringify({ name: 'tick-lib', version: '2.1.0', main: 'other.js' }),
  );
  const rebuilt = await fallbackOf(await buildRemote({ root: project.dir, baseline: false }));
  assert.doesNotMatch(rebuilt, /the old entry/);
  assert.match(rebuilt, /from the other entry/);
});

test('a changed install state (lockfile, package.json) is a miss, though no file esbuild read changed', async () => {
  await using project = await createProject({ 'package-lock.json': '{"lockfileVersion":3,"packages":{}}\n' });
  await buildRemote({ root: project.dir, baseline: false });
  await plant(project, 'before the install');
  await writeFile(join(project.dir, 'package-lock.json'), '{"lockfileVersion":3,"packages":{"x":{}}}\n');
  const rebuilt = await fallbackOf(await buildRemote({ root: project.dir, baseline: false }));
  assert.doesNotMatch(rebuilt, /before the install/);
  assert.equal((await entries(project)).length, 2, 'the new state has an entry of its own');
});

test('`cache: false` neither reads nor writes the cache; without node_modules there is none', async () => {
  await using project = await createProject();
  await buildRemote({ root: project.dir, baseline: false });
  await plant(project, 'not to be used');
  const uncached = await buildRemote({ root: project.dir, baseline: false, cache: false });
  assert.doesNotMatch(await fallbackOf(uncached), /not to be used/);
  await rm(cacheDir(project), { recursive: true });
  await buildRemote({ root: project.dir, baseline: false, cache: false });
  assert.deepEqual(await entries(project), []);

  // A remote whose shared package lives in a node_modules above its root: nothing is written anywhere.
  await using outer = await createProject();
  await using inner = await createTempProject({
    'ferry.config.ts': `export default { name: 'inner', version: '1.0.0', exposes: { './x': './x.ts' }, shared: {} };\n`,
    'x.ts': 'export const x = 1;\n',
  });
  await buildRemote({ root: inner.dir, baseline: false });
  assert.deepEqual(await entries(outer), []);
  assert.deepEqual(await readdir(inner.dir).then((names) => names.includes('node_modules')), false);
});

test('a corrupt, truncated or foreign entry is a miss: the build bundles the package again and replaces it', async () => {
  await using project = await createProject();
  const first = await fallbackOf(await buildRemote({ root: project.dir, baseline: false }));
  const [name] = await entries(project);
  const file = join(cacheDir(project), name!);
  for (const bytes of [
    '{"format":1,"inputs":',
    'null',
    '{"format":2,"inputs":{},"code":"x"}',
    '{"format":1,"inputs":{},"code":7}',
  ]) {
    await writeFile(file, bytes);
    assert.equal(await fallbackOf(await buildRemote({ root: project.dir, baseline: false })), first, bytes);
    assert.equal(JSON.parse(await readFile(file, 'utf8')).code, first, `the entry is rewritten after ${bytes}`);
  }
});

test('`ferry build` keeps the fallback in the cache; `ferry build --no-cache` neither reads nor writes it', async () => {
  await using project = await createProject();
  const uncached = await runFerry(['build', '--no-cache'], { cwd: project.dir });
  assert.equal(uncached.code, 0, uncached.stderr);
  assert.deepEqual(await entries(project), []);
  const cached = await runFerry(['build'], { cwd: project.dir });
  assert.equal(cached.code, 0, cached.stderr);
  assert.equal((await entries(project)).length, 1);
  await plant(project, 'planted for the CLI');
  const again = await runFerry(['build', '--no-cache'], { cwd: project.dir });
  assert.equal(again.code, 0, again.stderr);
  const manifest = JSON.parse(await readFile(join(project.dir, 'dist/federation/mf-manifest.json'), 'utf8'));
  const fallback = await readFile(
    join(project.dir, 'dist/federation', manifest.ferry.shared['tick-lib'].fallback),
    'utf8',
  );
  assert.doesNotMatch(fallback, /planted for the CLI/);
});
