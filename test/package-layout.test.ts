/**
 * The built package (dist/, written by scripts/build.ts): every entry package.json and bin/ferry.js name exists, the
 * host entries share one copy of the runtime (the error classes have one per group of entries, and `instanceof`
 * holds across them), no bundle builds a builtin's ES facade, and what a host loads never reaches build tooling,
 * checked on the built chunks themselves (test/architecture.test.ts checks the same on src/).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { runProcess } from './helpers/build-fixture.ts';
import { modulesLoadedBy, packagesLoadedBy, runtimeImports } from './helpers/import-graph.ts';
import { createTempProject, REPO_ROOT } from './helpers/temp-project.ts';
import { createSignedRemote } from './helpers/trust-fixture.ts';

const DIST = join(REPO_ROOT, 'dist');
const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  version: string;
  exports: Record<string, string | { types: string; default: string }>;
};

if (!existsSync(join(DIST, 'index.js'))) {
  throw new Error('dist/ is missing: run `npm run build` before this test (npm test does).');
}

async function jsFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await jsFiles(path)));
    else if (entry.name.endsWith('.js')) found.push(path);
  }
  return found;
}

test('every entry package.json exports and bin/ferry.js imports is built', async () => {
  const targets = Object.values(pkg.exports).flatMap((target) =>
    typeof target === 'string' ? [target] : [target.default, target.types],
  );
  for (const target of targets) assert.ok(existsSync(join(REPO_ROOT, target)), `${target} (package.json exports)`);
  const bin = await readFile(join(REPO_ROOT, 'bin', 'ferry.js'), 'utf8');
  const local = runtimeImports(bin).filter(({ specifier }) => !specifier.startsWith('node:'));
  assert.ok(local.length > 0, 'bin/ferry.js imports the CLI');
  for (const { specifier } of local) {
    assert.ok(existsSync(join(REPO_ROOT, 'bin', specifier)), `${specifier} (bin/ferry.js)`);
  }
});

test('the host entries share one runtime in one chunk; errors from any entry are instances of every copy', async () => {
  // esbuild writes `class X` as `var X = class _X` where it keeps names.
  const definitions = new Map<RegExp, string[]>([
    [/\bclass FerryError\b|\bFerryError = class\b/, []],
    [/\bfunction createHost\(/, []],
  ]);
  for (const file of await jsFiles(DIST)) {
    const code = await readFile(file, 'utf8');
    for (const [pattern, where] of definitions) if (pattern.test(code)) where.push(file);
  }
  const [errorClasses, createHost] = [...definitions.values()].map((where) =>
    where.map((file) => relative(DIST, file)),
  );
  // One runtime: `ferry` and `ferry/register` load the one chunk that defines createHost, and nothing else defines it.
  assert.equal(createHost!.length, 1, `createHost is in ${createHost!.join(', ') || 'no file'}`);
  const runtime = join(DIST, createHost![0]!);
  assert.match(createHost![0]!, /^chunks\/host-/, "the runtime is in the host entries' chunk");
  for (const entry of ['index.js', 'register/index.js']) {
    assert.ok((await modulesLoadedBy(join(DIST, entry))).has(runtime), `dist/${entry} loads ${createHost![0]}`);
  }
  // What `import 'ferry'` reads at a host's start: the entry and the runtime's chunk (bench/ROUNDS.md, ninth round).
  const hostFiles = [...(await modulesLoadedBy(join(DIST, 'index.js')))].map((file) => relative(DIST, file));
  assert.ok(hostFiles.length <= 3, `import 'ferry' loads ${hostFiles.length} files: ${hostFiles.join(', ')}`);
  // The error classes: one copy in the host's chunk, one shared by the other entries.
  assert.deepEqual(
    errorClasses!.map((file) => file.replace(/-\w+\.js$/, '')).sort(),
    ['chunks/chunk', 'chunks/host-chunk'],
    `FerryError is defined in ${errorClasses!.join(', ')}`,
  );
  // An error thrown by another group's entry is an instance of the host's classes (the brand and the code), and the
  // other way round.
  const [root, manifest] = await Promise.all([
    import(join(DIST, 'index.js')),
    import(join(DIST, 'manifest', 'index.js')),
  ]);
  const thrown = (() => {
    try {
      manifest.parseManifest('{', 'a test');
    } catch (error) {
      return error as Error & { code: string };
    }
    assert.fail('parseManifest accepted "{"');
  })();
  const Class = root[thrown.constructor.name] as new (...args: unknown[]) => Error;
  assert.notEqual(Class, thrown.constructor, 'two copies of the class, one per group');
  assert.ok(thrown instanceof root.FerryError, `${thrown.constructor.name} from ferry/manifest is a ferry FerryError`);
  assert.ok(thrown instanceof Class, `and an instance of ferry's ${thrown.constructor.name}`);
  assert.ok(!(thrown instanceof root.IntegrityError), 'and not of an error class with another code');
  const fromRoot = new Class('x');
  assert.ok(fromRoot instanceof (thrown.constructor as new () => Error), 'and the other way round');
});

test('what a host or a server loads never reaches build tooling, through any chunk', async () => {
  for (const entry of ['index.js', 'server/index.js', 'manifest/index.js', 'register/index.js', 'inspector/index.js']) {
    const packages = await packagesLoadedBy(join(DIST, entry));
    for (const tool of ['esbuild', 'oxc-transform', 'typescript', '@typescript/typescript6']) {
      assert.ok(!packages.has(tool), `dist/${entry} loads ${tool} through ${packages.get(tool)}`);
    }
    assert.deepEqual(
      [...packages.keys()].filter((name) => !name.startsWith('node:')),
      ['semver'].filter((name) => packages.has(name)),
      `dist/${entry} loads only Node builtins and semver: ${[...packages.keys()].join(', ')}`,
    );
  }
  // Nor does the build entry or the CLI, before a build starts: esbuild is an optional dependency, imported on first
  // use. The walk does see it when it follows dynamic imports, so the checks above would catch a static one.
  for (const entry of ['build/index.js', 'cli/main.js']) {
    assert.ok(!(await packagesLoadedBy(join(DIST, entry))).has('esbuild'), `dist/${entry} imports esbuild statically`);
  }
  assert.ok((await packagesLoadedBy(join(DIST, 'build', 'index.js'), { dynamic: true })).has('esbuild'));
  // The CLI's other commands work where the build tools are not installed, whatever they import when run.
  const commands = (await readdir(join(DIST, 'chunks'))).filter((name) =>
    /^(serve|verify|keygen|types|check|inspect)-command-\w+\.js$/.test(name),
  );
  assert.equal(commands.length, 6, `the six command chunks: ${commands.join(', ')}`);
  for (const chunk of commands) {
    const packages = await packagesLoadedBy(join(DIST, 'chunks', chunk), { dynamic: true });
    for (const tool of ['esbuild', 'oxc-transform', 'typescript', '@typescript/typescript6']) {
      assert.ok(!packages.has(tool), `dist/chunks/${chunk} reaches ${tool} through ${packages.get(tool)}`);
    }
  }
});

test('the `ferry`, `ferry/register` and `ferry/inspector` entries never reach @opentelemetry, even through dynamic imports', async () => {
  for (const entry of ['index.js', 'register/index.js', 'inspector/index.js']) {
    const packages = await packagesLoadedBy(join(DIST, entry), { dynamic: true });
    const otel = [...packages.keys()].filter((name) => name.startsWith('@opentelemetry/'));
    assert.deepEqual(otel, [], `dist/${entry} reaches ${otel.map((name) => `${name} through ${packages.get(name)}`)}`);
  }
  // ferry/otel depends on exactly its two peer dependencies (and the walk does see them).
  const otel = await packagesLoadedBy(join(DIST, 'otel', 'index.js'), { dynamic: true });
  assert.deepEqual([...otel.keys()].filter((name) => !name.startsWith('node:')).sort(), [
    '@opentelemetry/api',
    '@opentelemetry/instrumentation',
  ]);
});

test('ferry/testing is its own entry: no host entry reaches it, and it loads esbuild only for built sources', async () => {
  assert.ok(existsSync(join(DIST, 'testing', 'index.js')), 'dist/testing/index.js');
  // The files holding the testing code: the entry and any chunk that defines createTestRemote or the hand-built writer.
  const testingFiles: string[] = [];
  for (const file of await jsFiles(DIST)) {
    const code = await readFile(file, 'utf8');
    if (/\bfunction createTestRemote\(|\bfunction writeHandBuilt\(|\bfunction sourceOfValues\(/.test(code)) {
      testingFiles.push(file);
    }
  }
  assert.ok(testingFiles.length > 0, 'found the chunk defining createTestRemote: the pattern is out of date');
  for (const entry of ['index.js', 'register/index.js', 'server/index.js', 'manifest/index.js']) {
    const loaded = await modulesLoadedBy(join(DIST, entry), { dynamic: true });
    const reached = testingFiles.filter((file) => loaded.has(file)).map((file) => relative(DIST, file));
    assert.deepEqual(reached, [], `dist/${entry} reaches the testing code, even through a lazy import()`);
  }
  const packages = await packagesLoadedBy(join(DIST, 'testing', 'index.js'));
  for (const tool of ['esbuild', 'oxc-transform', 'typescript']) {
    assert.ok(!packages.has(tool), `dist/testing/index.js loads ${tool} statically, through ${packages.get(tool)}`);
  }
  assert.ok((await packagesLoadedBy(join(DIST, 'testing', 'index.js'), { dynamic: true })).has('esbuild'));
});

test('ferry --version prints the version of its package.json, from the bundled CLI', async () => {
  const result = await runProcess(process.execPath, [join(REPO_ROOT, 'bin', 'ferry.js'), '--version'], {
    cwd: REPO_ROOT,
  });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout.trim(), pkg.version);
});

test('bundled without keepNames: every function and class an entry exports keeps its name, every error its class`s', async () => {
  // scripts/build.ts does not wrap every function in a naming helper (a call per closure made, in every request's
  // path); names then survive only as long as no two bundled functions share one and no class names itself inside
  // its own body (esbuild renames such classes, `var FerryError = class _FerryError`).
  const entries = Object.entries(pkg.exports as Record<string, { default?: string }>)
    .map(([subpath, target]) => [subpath, target.default] as const)
    // ferry/register starts a host from the config it finds when it is imported.
    .filter(
      (entry): entry is readonly [string, string] => entry[1]?.endsWith('.js') === true && entry[0] !== './register',
    );
  const script = `
    const wrong = [];
    let checked = 0;
    for (const [subpath, file] of ${JSON.stringify(entries)}) {
      const module = await import(new URL(file, ${JSON.stringify(pathToFileURL(`${REPO_ROOT}/`).href)}));
      for (const [name, value] of Object.entries(module)) {
        if (typeof value !== 'function') continue;
        checked++;
        if (value.name !== name) wrong.push(subpath + ' ' + name + ' is named ' + value.name);
        if (value.prototype instanceof Error && new value('x').name !== name) wrong.push(subpath + ' ' + name + ' errors');
      }
    }
    console.log(JSON.stringify({ checked, wrong }));
  `;
  const result = await runProcess(process.execPath, ['--input-type=module', '-e', script], { cwd: DIST });
  assert.equal(result.code, 0, result.stderr);
  const { checked, wrong } = JSON.parse(result.stdout.trim().split('\n').at(-1)!) as {
    checked: number;
    wrong: string[];
  };
  assert.ok(checked > 50, `${checked} exported functions and classes checked`);
  assert.deepEqual(wrong, []);
  for (const file of await jsFiles(DIST)) {
    assert.doesNotMatch(await readFile(file, 'utf8'), /= class _\w/, `${relative(DIST, file)} has a renamed class`);
  }
});

test('semver is its own file, dist/chunks/semver.cjs: a host with plain versions and ranges never loads it, others get semver`s answers', async () => {
  // src/common/semver.ts answers plain versions and `^x.y.z`, `~x.y.z`, `x.y.z`, `*` itself and requires semver's
  // functions from dist/chunks/semver.cjs for anything else (scripts/build.ts bundles them there).
  const script = `
    import { createRequire } from 'node:module';
    const { createHost } = await import(${JSON.stringify(pathToFileURL(join(DIST, 'index.js')).href)});
    const cache = createRequire(import.meta.url).cache;
    const semverLoaded = () => Object.keys(cache).some((file) => file.endsWith('semver.cjs'));
    const host = (versionRange) =>
      createHost({ name: 'h', remotes: { r: { url: 'http://127.0.0.1:9/mf-manifest.json', versionRange } } });
    const plain = [host('^1.2.3'), host('~1.2.3'), host('1.2.3'), host('*')];
    const before = semverLoaded();
    host('>=1.0.0 <2.0.0');
    let refused = '';
    try { host('not a range'); } catch (error) { refused = error.code; }
    console.log(JSON.stringify({ before, after: semverLoaded(), refused, hosts: plain.length }));
  `;
  const result = await runProcess(process.execPath, ['--input-type=module', '-e', script], { cwd: DIST });
  assert.equal(result.code, 0, result.stderr);
  const answer = JSON.parse(result.stdout.trim().split('\n').at(-1)!);
  assert.deepEqual(answer, { before: false, after: true, refused: 'ERR_FERRY_INVALID_OPTION', hosts: 4 });
});

test('loading `ferry` or `ferry/server` builds no ES facade of a builtin: none of what only a facade loads is loaded', async () => {
  // What the ES facades of node:util, node:fs and node:http load through their lazy getters (worker_threads and
  // parseArgs for util's, Node's bundled undici for http's `WebSocket`), which ferry never uses: the build takes
  // builtins from process.getBuiltinModule() (scripts/build.ts).
  const facadeOnly = ['NativeModule worker_threads', 'NativeModule internal/util/parse_args/parse_args'];
  const undici = 'NativeModule internal/deps/undici/undici';
  for (const entry of ['index.js', 'server/index.js']) {
    const script =
      'const before = new Set(process.moduleLoadList);' +
      `await import(${JSON.stringify(pathToFileURL(join(DIST, entry)).href)});` +
      'console.log(JSON.stringify(process.moduleLoadList.filter((name) => !before.has(name))));';
    const result = await runProcess(process.execPath, ['--input-type=module', '-e', script], { cwd: DIST });
    assert.equal(result.code, 0, result.stderr);
    const loaded = JSON.parse(result.stdout.trim().split('\n').at(-1)!) as string[];
    assert.ok(loaded.includes('NativeModule vm') || entry !== 'index.js', 'the walk sees what the runtime loads');
    for (const name of [...facadeOnly, undici]) assert.ok(!loaded.includes(name), `dist/${entry} loads ${name}`);
  }
  // No bundle keeps an ES import of a builtin (the build rewrites them, and fails on a form it does not know).
  for (const file of await jsFiles(DIST)) {
    const code = await readFile(file, 'utf8');
    assert.doesNotMatch(code, /^(?:import|export)\b[^;]*?"node:[^"]*"/m, relative(DIST, file));
  }
});

test('a host that loads a remote cold, from its cache or with the remote down never loads node:fs/promises', async () => {
  // The runtime's writes go through node:fs, which Node loads at its own start-up; the rest of what it takes from
  // node:fs/promises (folder listings, pruning, asset folders, ferry.lock) is loaded when first called
  // (scripts/build.ts, LAZY_BUILTINS): ~1.3 ms of every start otherwise (bench/ROUNDS.md, eleventh round).
  await using remote = await createSignedRemote();
  await using cache = await createTempProject({});
  const script = `
    const { createHost } = await import(${JSON.stringify(pathToFileURL(join(DIST, 'index.js')).href)});
    const host = createHost({
      name: 'h',
      remotes: { authService: { url: process.argv[1], publicKey: process.argv[2] } },
      cache: { dir: process.argv[3] },
      live: { pollInterval: false, push: false },
      onWarning: () => {},
    });
    const { answer } = await host.import('authService/x');
    await host.close();
    console.log(JSON.stringify({ answer, loaded: process.moduleLoadList.includes('NativeModule fs/promises') }));
  `;
  const start = async () => {
    const args = ['--input-type=module', '-e', script, remote.manifestUrl, remote.publicKey, cache.dir];
    const result = await runProcess(process.execPath, args, { cwd: DIST });
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout.trim().split('\n').at(-1)!) as { answer: number; loaded: boolean };
  };
  assert.deepEqual(await start(), { answer: 42, loaded: false }, 'cold: every file fetched and written');
  assert.ok((await readdir(join(cache.dir, 'files'))).length >= 2, 'the cold start wrote its files');
  assert.deepEqual(await start(), { answer: 42, loaded: false }, 'restarted with the cache (a 304)');
  await remote.server.close();
  assert.deepEqual(await start(), { answer: 42, loaded: false }, 'the remote down: from the cache');
});

test('every JavaScript file of the package is ASCII, so V8 holds it as one-byte text (comments included)', async () => {
  // One non-ASCII character anywhere (esbuild escapes them in code, not in the comments it keeps) makes V8 keep the
  // whole file as two-byte text and scan every function at that width when it first compiles it (scripts/build.ts).
  const files = [...(await jsFiles(DIST)), join(DIST, 'chunks', 'semver.cjs')];
  const chunk = files.find((file) => file.includes(join('chunks', 'host-chunk-')));
  assert.ok(chunk, 'the walk sees the host chunk');
  for (const file of files) {
    const bytes = await readFile(file);
    const at = bytes.findIndex((byte) => byte > 0x7f);
    assert.equal(at, -1, `${relative(DIST, file)} has a non-ASCII byte at ${at}`);
  }
  // The witness that the build does the work: a comment with an en dash in src/ is carried into the host chunk, as
  // ASCII (without the build's rewrite, the chunk would hold the dash and fail above).
  const source = await readFile(join(REPO_ROOT, 'src', 'runtime', 'net', 'http-client.ts'), 'utf8');
  assert.ok(
    source.includes('statuses outside 200\u2013599'),
    'http-client.ts changed its comment: pick another witness',
  );
  assert.ok((await readFile(chunk, 'utf8')).includes('statuses outside 200-599'), 'the comment is in the host chunk');
});
