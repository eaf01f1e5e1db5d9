/** `ferry build` end to end: the real CLI against a temporary TypeScript remote. */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import jwt from 'jsonwebtoken';
import { integrityOf, MANIFEST_FILE, parseManifest, SIGNATURE_FILE } from '../src/manifest/index.ts';
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
  // bytes on disk.
  const onDisk = (await readdir(outDir)).filter((name) => name !== MANIFEST_FILE && name !== 'remoteEntry.js').sort();
  assert.deepEqual(Object.keys(manifest.ferry.files).sort(), onDisk);
  for (const [name, entry] of Object.entries(manifest.ferry.files)) {
    const bytes = await readFile(join(outDir, name));
    assert.equal(entry.size, bytes.byteLength, name);
    assert.equal(entry.integrity, integrityOf(bytes), name);
  }

  const validator = manifest.ferry.exposes['./tokenValidator'];
  const other = manifest.ferry.exposes['./other'];
  assert.ok(validator && other);
  assert.match(validator.file, /^tokenValidator\.[0-9a-f]{10}\.js$/);
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

  // ms is bundled, jsonwebtoken stays a require; no sourceMappingURL comment.
  const code = await readFile(join(outDir, validator.file), 'utf8');
  assert.doesNotMatch(code, /require\(["']ms["']\)/);
  assert.match(code, /require\(["']jsonwebtoken["']\)/);
  assert.doesNotMatch(code, /sourceMappingURL/);
  const map = JSON.parse(await readFile(join(outDir, validator.map), 'utf8'));
  assert.ok(map.sources.includes('src/helper.ts'), map.sources.join(', '));
  assert.ok(map.sources.includes('src/tokenValidator.ts'));
  assert.equal(map.sourcesContent, undefined);

  // A plain Node require of the container works (the project is "type": "module"; the folder says commonjs).
  const container = createRequire(import.meta.url)(join(outDir, 'remoteEntry.js'));
  const scope = {};
  await container.init(scope);
  await container.init(scope);
  assert.throws(() => container.init({}), /already been initialized/);
  const module = (await container.get('./tokenValidator'))();
  assert.equal(module.maxAge, 86_400_000);
  const token = jwt.sign({ sub: 'ada' }, 'secret');
  assert.equal(module.validate(token, 'secret').sub, 'ada');
  assert.equal((await container.get('./other'))().answer, 42);
  await assert.rejects(container.get('./missing'), /"\.\/missing" does not exist in container "authService"/);
});

test('a rebuild keeps the previous generation and removes older ones, and leaves other files alone', async () => {
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
  const files = await readdir(outDir);
  assert.ok(!files.includes(first.file) && !files.includes(first.map!), 'the oldest generation is removed');
  assert.ok(files.includes(second.file) && files.includes(second.map!), 'the previous generation is kept');
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
