/** `ferry build` end to end: the real CLI against a temporary TypeScript remote. */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { test } from 'node:test';
import jwt from 'jsonwebtoken';
import { createHost } from '../src/index.ts';
import { integrityOf, MANIFEST_FILE, parseManifest, SIGNATURE_FILE } from '../src/manifest/index.ts';
import { createFerryServer } from '../src/server/index.ts';
import { createRemoteProject, runFerry } from './helpers/build-fixture.ts';

const OUT = join('dist', 'federation');

async function readManifest(outDir: string) {
  const file = join(outDir, MANIFEST_FILE);
  return parseManifest(await readFile(file), file);
}

test('builds a TypeScript remote: manifest, hashed bundles, maps and a working container', async () => {
  await using project = await createRemoteProject();
  const result = await runFerry(['build'], { cwd: project.dir });
  assert.equal(result.code, 0, result.stderr);
  const time = /total in (\d+) ms/.exec(result.stdout);
  assert.ok(time, result.stdout);
  console.log(`build of the fixture remote: ${time[1]} ms`);
  assert.match(result.stdout, /Not signed/);

  const outDir = project.path(OUT);
  const manifestText = await readFile(join(outDir, MANIFEST_FILE), 'utf8');
  assert.ok(manifestText.endsWith('}\n'), 'manifest ends with a newline');
  assert.equal(manifestText, `${JSON.stringify(JSON.parse(manifestText), null, 2)}\n`, '2-space JSON');
  const manifest = parseManifest(manifestText, MANIFEST_FILE);
  assert.equal(manifest.name, 'authService');
  assert.equal(manifest.ferry.version, '1.2.0');
  // Hosts load the container by its content-addressed name; remoteEntry.js (the configured `filename`, which MF
  // tooling loads) has the same bytes and is not listed: it is rewritten in place by every build.
  assert.match(manifest.ferry.remoteEntry, /^remoteEntry\.[0-9a-f]{10}\.js$/);
  assert.equal(manifest.metaData.remoteEntry.name, 'remoteEntry.js');
  assert.equal(manifest.metaData.remoteEntry.type, 'commonjs-module');
  assert.ok(!Object.hasOwn(manifest.ferry.files, 'remoteEntry.js'));
  assert.deepEqual(
    await readFile(join(outDir, 'remoteEntry.js')),
    await readFile(join(outDir, manifest.ferry.remoteEntry)),
  );
  const expiresIn = Date.parse(manifest.ferry.expires) - Date.parse(manifest.ferry.builtAt);
  assert.equal(expiresIn, 90 * 86_400_000);

  // Every file in the folder except the manifest and remoteEntry.js is listed, with the size and integrity of its
  // bytes on disk (the kept releases, releases/<release>.json, are copies of manifests).
  const onDisk = (await readdir(outDir, { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => relative(outDir, join(entry.parentPath, entry.name)).split(sep).join('/'))
    .filter((name) => name !== MANIFEST_FILE && name !== 'remoteEntry.js' && !name.startsWith('releases/'))
    .sort();
  assert.deepEqual(Object.keys(manifest.ferry.files).sort(), onDisk);
  for (const [name, entry] of Object.entries(manifest.ferry.files)) {
    const bytes = await readFile(join(outDir, name));
    assert.equal(entry.size, bytes.byteLength, name);
    assert.equal(entry.integrity, integrityOf(bytes), name);
  }

  const validator = manifest.ferry.exposes['./tokenValidator'];
  const other = manifest.ferry.exposes['./other'];
  assert.ok(validator && other);
  // esbuild's content hash names the bundles (and their chunks).
  assert.match(validator.file, /^tokenValidator\.[A-Z0-9]{8}\.js$/);
  assert.equal(manifest.ferry.files[validator.file]?.type, 'esm', 'the bundle is a ferry module');
  assert.equal(validator.map, `${validator.file}.map`);
  assert.deepEqual(validator.shared, ['jsonwebtoken']);
  assert.deepEqual(other.shared, []);
  const installed = JSON.parse(await readFile(project.path('node_modules/jsonwebtoken/package.json'), 'utf8'));
  assert.deepEqual(manifest.ferry.shared.jsonwebtoken, {
    version: installed.version,
    requiredVersion: '^9.0.0',
    singleton: true,
    strictVersion: false,
    eager: false,
    shareScope: 'default',
    fallback: manifest.ferry.shared.jsonwebtoken?.fallback,
  });
  assert.match(String(manifest.ferry.shared.jsonwebtoken?.fallback), /^shared-jsonwebtoken\.[0-9a-f]{10}\.js$/);
  assert.deepEqual(
    manifest.exposes.map((expose) => [expose.id, expose.path, expose.assets.js.sync]),
    [
      ['authService:tokenValidator', './tokenValidator', [validator.file]],
      ['authService:other', './other', [other.file]],
    ],
  );

  // ms is bundled, jsonwebtoken stays an import the host resolves; no sourceMappingURL comment.
  const code = await readFile(join(outDir, validator.file), 'utf8');
  assert.doesNotMatch(code, /(?:__ferryImport|require)\(["']ms["']\)/);
  assert.match(code, /__ferryImport\("jsonwebtoken"\)/);
  assert.doesNotMatch(code, /sourceMappingURL/);
  const map = JSON.parse(await readFile(join(outDir, validator.map), 'utf8'));
  assert.ok(map.sources.includes('src/helper.ts'), map.sources.join(', '));
  assert.ok(map.sources.includes('src/tokenValidator.ts'));
  assert.equal(map.sourcesContent, undefined);

  // The container works through a host: init (once per scope), get, and the modules it loads.
  const server = await createFerryServer({ dir: outDir, port: 0 });
  const host = createHost({
    name: 'h',
    remotes: { authService: server.url },
    shared: ['jsonwebtoken'],
    root: project.dir,
    cache: { dir: project.path('.cache') },
    onWarning: () => {},
  });
  try {
    const module = await host.import<{ maxAge: number; validate(token: string, secret: string): { sub: string } }>(
      'authService/tokenValidator',
    );
    assert.equal(module.maxAge, 86_400_000);
    const token = jwt.sign({ sub: 'ada' }, 'secret');
    assert.equal(module.validate(token, 'secret').sub, 'ada');
    assert.equal((await host.import<{ answer: number }>('authService/other')).answer, 42);
    await assert.rejects(host.import('authService/missing'), /does not expose "\.\/missing"/);
  } finally {
    await host.close();
    await server.close();
  }
});

test('rebuilds keep every release (releases/<release>.json); `ferry release prune` removes the old ones, and leaves other files alone', async () => {
  await using project = await createRemoteProject();
  const outDir = project.path(OUT);
  const generations = [];
  for (const answer of [1, 2, 3]) {
    await project.write('src/other.ts', `export const answer: number = ${answer};\n`);
    const result = await runFerry(['build'], { cwd: project.dir });
    assert.equal(result.code, 0, result.stderr);
    generations.push(await readManifest(outDir));
    if (answer === 1) await project.write(`${OUT}/notes.txt`, 'not written by ferry');
  }
  const [first, second, third] = generations.map((manifest) => manifest.ferry.exposes['./other']!);
  assert.ok(first && second && third);
  assert.notEqual(first.file, second.file);
  let files = await readdir(outDir);
  for (const kept of [first, second, third]) {
    assert.ok(files.includes(kept.file) && files.includes(kept.map!), 'a build never removes a kept release');
  }
  const releases = await readdir(join(outDir, 'releases'));
  for (const manifest of generations) assert.ok(releases.includes(`${manifest.ferry.release}.json`));
  const pruned = await runFerry(['release', 'prune', '--keep', '2', '--out', OUT], { cwd: project.dir });
  assert.equal(pruned.code, 0, pruned.stdout + pruned.stderr);
  assert.match(pruned.stdout, new RegExp(`Removed releases: ${generations[0]!.ferry.release}`));
  files = await readdir(outDir);
  assert.ok(!files.includes(first.file) && !files.includes(first.map!), 'prune removes the oldest release');
  assert.ok(files.includes(second.file) && files.includes(second.map!), 'the previous release is kept');
  assert.ok(files.includes(third.file) && files.includes(third.map!));
  assert.ok(files.includes('notes.txt'));
  // Unchanged exposes keep their name: the hash comes from the bytes.
  const validators = generations.map((manifest) => manifest.ferry.exposes['./tokenValidator']!.file);
  assert.equal(new Set(validators).size, 1);
  assert.ok(generations[2]!.ferry.release >= generations[1]!.ferry.release);
  assert.ok(!files.some((name) => name.endsWith('.tmp')), 'no temporary files are left');
  // The container is content-addressed too: the previous generation's stays servable, older ones go.
  const containers = generations.map((manifest) => manifest.ferry.remoteEntry);
  assert.equal(new Set(containers).size, 3);
  assert.ok(!files.includes(containers[0]!) && files.includes(containers[1]!) && files.includes(containers[2]!));
});

test('--out and --root choose the folders; --config alone makes its folder the root', async () => {
  await using project = await createRemoteProject();
  const moved = await runFerry(['build', '--root', project.dir, '--out', 'elsewhere/out'], { cwd: project.dir });
  assert.equal(moved.code, 0, moved.stderr);
  assert.equal((await readManifest(project.path('elsewhere/out'))).name, 'authService');

  const parent = join(project.dir, '..');
  const byConfig = await runFerry(['build', '--config', project.path('ferry.config.ts')], { cwd: parent });
  assert.equal(byConfig.code, 0, byConfig.stderr);
  assert.equal((await readManifest(project.path(OUT))).ferry.version, '1.2.0');
});

test('esbuild errors fail the build with the file and line, and nothing is written', async () => {
  await using project = await createRemoteProject({ 'src/other.ts': 'export const answer = 42 +;\n' });
  const result = await runFerry(['build'], { cwd: project.dir });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /ERR_FERRY_BUILD/);
  assert.match(result.stderr, /src\/other\.ts:1:\d+/);
  await assert.rejects(readdir(project.path(OUT)), { code: 'ENOENT' });
});

test('an unresolvable import fails the build naming the package', async () => {
  await using project = await createRemoteProject({ 'src/other.ts': "export { x } from 'not-installed-anywhere';\n" });
  const result = await runFerry(['build'], { cwd: project.dir });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /not-installed-anywhere/);
  assert.match(result.stderr, /ERR_FERRY_BUILD/);
});

test('an unsigned rebuild removes a stale signature', async () => {
  await using project = await createRemoteProject();
  await project.write(`${OUT}/${SIGNATURE_FILE}`, '{}');
  const result = await runFerry(['build'], { cwd: project.dir });
  assert.equal(result.code, 0, result.stderr);
  assert.ok(!(await readdir(project.path(OUT))).includes(SIGNATURE_FILE));
});

test('ferry build --help prints the options', async () => {
  await using project = await createRemoteProject();
  const result = await runFerry(['build', '--help'], { cwd: project.dir });
  assert.equal(result.code, 0);
  assert.match(result.stdout, /--sign <keyfile>/);
});
