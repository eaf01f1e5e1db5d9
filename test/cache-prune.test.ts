/**
 * Pruning the host's disk cache (src/runtime/cache/cache-prune.ts) with real loopback remotes, real hosts and real files:
 * a host that follows updates keeps the files of its last `cache.versions` versions and loses the older ones; files
 * another remote's record references, files within the grace period, files that are not ferry's and other folders
 * survive; a record that cannot be read stops the run with a warning and the import still works; a restart after
 * pruning still starts from the cache; runs are at most once per `cache.pruneInterval`, across hosts on one folder.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHost, type HostOptions, InvalidOptionError } from '../src/index.ts';
import { integrityOf, type Manifest } from '../src/manifest/index.ts';
import { PRUNE_DELAY_MS, versionFolderName } from '../src/runtime/cache/cache-prune.ts';
import { type Loopback, startLoopback } from './helpers/loopback.ts';
import { writeRemoteOutput } from './helpers/remote-output.ts';
import { createTempProject, type TempProject } from './helpers/temp-project.ts';
import { waitFor } from './helpers/wait-for.ts';

const HOUR = 3_600_000;

/** The name the content store gives an integrity. */
const storeName = (integrity: string) => integrity.slice(7).replaceAll('+', '-').replaceAll('/', '_');
const storePath = (cacheDir: string, integrity: string) => join(cacheDir, 'files', storeName(integrity));

/** Every store name a published version consists of: each file its manifest lists. */
function namesOf(published: { manifest: Manifest; bytes: Buffer }): string[] {
  // The manifest itself is in the remote's record (format 2), not a content entry.
  return Object.values(published.manifest.ferry.files).map((entry) => storeName(entry.integrity));
}

/** The names of the files under `<cacheDir>/files`. */
async function stored(cacheDir: string): Promise<Set<string>> {
  const entries = await readdir(join(cacheDir, 'files'), { recursive: true, withFileTypes: true });
  return new Set(entries.filter((entry) => entry.isFile()).map((entry) => entry.name));
}

/** Sets the mtime of every file under `dir` an hour back: older than the grace period. */
async function age(dir: string): Promise<void> {
  const past = new Date(Date.now() - HOUR);
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  for (const entry of entries.filter((e) => e.isFile())) await utimes(join(entry.parentPath, entry.name), past, past);
}

/** Sets the mtime of every file and folder under `dir` (and of `dir`) an hour back. */
async function ageAll(dir: string): Promise<void> {
  const past = new Date(Date.now() - HOUR);
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  // Deepest first: setting a file's times does not change its folder's mtime, but be safe about order anyway.
  for (const entry of entries.reverse()) await utimes(join(entry.parentPath, entry.name), past, past);
  await utimes(dir, past, past);
}

const pruneState = (cacheDir: string) => readFile(join(cacheDir, 'prune.json'), 'utf8').catch(() => undefined);

/** Runs `action` and waits for the prune run it causes to finish (prune.json rewritten). */
async function prunedBy<T>(cacheDir: string, action: () => Promise<T>, ms = 5000): Promise<T> {
  const before = await pruneState(cacheDir);
  const result = await action();
  await waitFor(
    async () => {
      const now = await pruneState(cacheDir);
      return now !== undefined && now !== before;
    },
    'a prune run',
    ms,
  );
  return result;
}

interface Remote extends AsyncDisposable {
  project: TempProject;
  server: Loopback;
  url: string;
  publish(version: number): Promise<{ manifest: Manifest; bytes: Buffer }>;
}

let seq = 0;

async function startRemote(name: string): Promise<Remote> {
  const project = await createTempProject({});
  const server = await startLoopback(project.dir);
  const tag = `${name}-${seq++}`;
  const publish = (version: number) =>
    writeRemoteOutput(project.dir, {
      name,
      version: `1.${version}.0`,
      release: version,
      exposes: { './x': { code: `exports.version = ${version}; exports.tag = ${JSON.stringify(tag)};` } },
    });
  return {
    project,
    server,
    url: `${server.url}mf-manifest.json`,
    publish,
    async [Symbol.asyncDispose]() {
      await server.close();
      await project.remove();
    },
  };
}

function hostOf(remotes: HostOptions['remotes'], cacheDir: string, extra: Partial<HostOptions> = {}) {
  const warnings: Array<{ code: string; message: string }> = [];
  const host = createHost({
    name: 'userService',
    remotes,
    retry: false,
    onWarning: (warning) => warnings.push(warning),
    ...extra,
    cache: { dir: cacheDir, ...extra.cache },
    live: { pollInterval: false, push: false, ...extra.live },
  });
  return { host, warnings };
}

type X = { version: number };

test('after cache.versions + 2 versions only the last cache.versions remain, with every file something else protects', async () => {
  await using cache = await createTempProject({});
  await using auth = await startRemote('authService');
  await using other = await startRemote('otherService');

  // Another host on the same folder, with a remote this host does not know: its record protects its files.
  const otherVersion = await other.publish(1);
  const { host: otherHost } = hostOf({ otherService: other.url }, cache.dir, { cache: { pruneInterval: false } });
  assert.equal((await otherHost.import<X>('otherService/x')).version, 1);
  await otherHost.close();

  // Left over from before: an old unreferenced entry and an old temporary file (both ferry's, both to go), a file
  // that is not ferry's, and another helper's folder (both to stay).
  const staleEntry = storePath(cache.dir, integrityOf(Buffer.from('an entry nothing references')));
  await mkdir(join(staleEntry, '..'), { recursive: true });
  await writeFile(staleEntry, 'an entry nothing references');
  const staleTemporary = join(staleEntry, '..', `.${basename(staleEntry)}.4242.0123456789ab.tmp`);
  await writeFile(staleTemporary, 'half');
  await writeFile(join(cache.dir, 'files', 'NOTES.txt'), 'an operator wrote this');
  await mkdir(join(cache.dir, 'v8'), { recursive: true });
  await writeFile(join(cache.dir, 'v8', 'code-cache.bin'), 'not ferry files/ business');

  const versions = [await auth.publish(1)];
  const { host, warnings } = hostOf({ authService: auth.url }, cache.dir, { cache: { pruneInterval: 0 } });
  try {
    await prunedBy(cache.dir, () => host.import<X>('authService/x'));
    for (let v = 2; v <= 5; v++) {
      await age(cache.dir);
      versions.push(await auth.publish(v));
      const [outcome] = await prunedBy(cache.dir, () => host.update('authService'));
      assert.equal(outcome?.status, 'activated', `version ${v}`);
      assert.equal((await host.import<X>('authService/x')).version, v);
    }
    // A file some host has just written, with its record still to come: within the grace period, it stays.
    await age(cache.dir);
    const fresh = storePath(cache.dir, integrityOf(Buffer.from('written a moment ago')));
    await mkdir(join(fresh, '..'), { recursive: true });
    await writeFile(fresh, 'written a moment ago');
    versions.push(await auth.publish(6));
    assert.equal((await prunedBy(cache.dir, () => host.update('authService')))[0]?.status, 'activated');

    const expected = new Set([
      ...versions.slice(-3).flatMap(namesOf),
      ...namesOf(otherVersion),
      basename(fresh),
      'NOTES.txt',
    ]);
    const left = await stored(cache.dir);
    assert.deepEqual([...left].sort(), [...expected].sort(), 'the last 3 versions, the other remote, the fresh file');
    for (const old of versions.slice(0, 3).flatMap(namesOf)) {
      if (!expected.has(old)) assert.ok(!left.has(old), `${old} of an old version was removed`);
    }
    assert.equal(await readFile(join(cache.dir, 'v8', 'code-cache.bin'), 'utf8'), 'not ferry files/ business');

    // The record keeps the history that protects them, newest first.
    const records = await readdir(join(cache.dir, 'remotes'));
    const record = JSON.parse(
      await readFile(join(cache.dir, 'remotes', records.find((r) => r.startsWith('authService-'))!), 'utf8'),
    );
    assert.equal(record.manifest.integrity, integrityOf(versions[5]!.bytes));
    assert.deepEqual(Buffer.from(record.manifest.base64, 'base64'), versions[5]!.bytes);
    assert.deepEqual(
      record.previous.map((p: { manifest: string; files: string[] }) => [p.manifest, p.files.map(storeName).sort()]),
      [4, 3].map((v) => [integrityOf(versions[v]!.bytes), namesOf(versions[v]!).sort()]),
    );
    const state = JSON.parse((await pruneState(cache.dir))!);
    assert.equal(state.host, 'userService');
    assert.ok(state.removed >= 1 && state.removedBytes > 0, JSON.stringify(state));
    assert.deepEqual(
      warnings.filter((w) => w.code !== 'FERRY_UNSIGNED_REMOTE'),
      [],
    );
  } finally {
    await host.close();
  }

  // A restart after pruning, with the remote down, still starts from the cache — also from a record written before
  // ferry kept history.
  await auth.server.close();
  const restarted = hostOf({ authService: auth.url }, cache.dir);
  assert.equal((await restarted.host.import<X>('authService/x')).version, 6);
  assert.equal(restarted.host.remotes().authService?.source, 'cache');
  await restarted.host.close();
  const recordFile = join(
    cache.dir,
    'remotes',
    (await readdir(join(cache.dir, 'remotes'))).find((r) => r.startsWith('authService-'))!,
  );
  const { previous: _dropped, ...legacy } = JSON.parse(await readFile(recordFile, 'utf8'));
  await writeFile(recordFile, JSON.stringify(legacy));
  const legacyHost = hostOf({ authService: auth.url }, cache.dir);
  assert.equal((await legacyHost.host.import<X>('authService/x')).version, 6);
  await legacyHost.host.close();
});

test('cache.versions: 1 on a remote keeps only its current version', async () => {
  await using cache = await createTempProject({});
  await using auth = await startRemote('authService');
  const versions = [await auth.publish(1)];
  const { host } = hostOf({ authService: { url: auth.url, cache: { versions: 1 } } }, cache.dir, {
    cache: { pruneInterval: 0 },
  });
  try {
    await prunedBy(cache.dir, () => host.import<X>('authService/x'));
    for (let v = 2; v <= 3; v++) {
      await age(cache.dir);
      versions.push(await auth.publish(v));
      assert.equal((await prunedBy(cache.dir, () => host.update('authService')))[0]?.status, 'activated');
    }
    // Version 3's files were written after the last aging; versions 1 and 2 were old and unprotected.
    assert.deepEqual([...(await stored(cache.dir))].sort(), namesOf(versions[2]!).sort());
  } finally {
    await host.close();
  }
});

test('a record that cannot be read stops pruning with a warning; the import works and nothing is removed', async () => {
  await using cache = await createTempProject({});
  await using auth = await startRemote('authService');
  await auth.publish(1);
  const oldEntry = storePath(cache.dir, integrityOf(Buffer.from('maybe protected by the broken record')));
  await mkdir(join(oldEntry, '..'), { recursive: true });
  await writeFile(oldEntry, 'maybe protected by the broken record');
  await age(cache.dir);
  await mkdir(join(cache.dir, 'remotes'), { recursive: true });
  await writeFile(join(cache.dir, 'remotes', 'paymentService-0123.json'), '{ "formatVersion": 1, "manif');

  const { host, warnings } = hostOf({ authService: auth.url }, cache.dir, { cache: { pruneInterval: 0 } });
  try {
    assert.equal((await host.import<X>('authService/x')).version, 1);
    await waitFor(() => warnings.some((w) => w.code === 'FERRY_CACHE_PRUNE'), 'the prune warning', 5000);
    const warning = warnings.find((w) => w.code === 'FERRY_CACHE_PRUNE')!;
    assert.match(warning.message, /could not prune its cache .*paymentService-0123\.json is not a record/s);
    assert.match(warning.message, /remove it/);
    assert.match(warning.message, /Imports are not affected/);
    assert.equal(await readFile(oldEntry, 'utf8'), 'maybe protected by the broken record', 'nothing was removed');
    assert.equal(await pruneState(cache.dir), undefined, 'a failed run is not recorded as a run');

    // An unreadable record (a folder in its place): the same, with the read error.
    await rm(join(cache.dir, 'remotes', 'paymentService-0123.json'));
    await mkdir(join(cache.dir, 'remotes', 'paymentService-4567.json'));
    await auth.publish(2);
    assert.equal((await host.update('authService'))[0]?.status, 'activated');
    await waitFor(
      () => warnings.filter((w) => w.code === 'FERRY_CACHE_PRUNE').length === 2,
      'the second warning',
      5000,
    );
    assert.match(warnings.at(-1)!.message, /paymentService-4567\.json could not be read \(EISDIR/);
    assert.equal((await host.import<X>('authService/x')).version, 2);
    assert.equal(await readFile(oldEntry, 'utf8'), 'maybe protected by the broken record');
  } finally {
    await host.close();
  }
});

test('at most one run per cache.pruneInterval, across hosts sharing the folder; false never prunes', async () => {
  await using cache = await createTempProject({});
  await using neverCache = await createTempProject({});
  await using auth = await startRemote('authService');
  await auth.publish(1);
  const first = hostOf({ authService: auth.url }, cache.dir, { cache: { pruneInterval: 60_000 } });
  // The first run of a host starts a moment (PRUNE_DELAY_MS) after the new manifest was recorded.
  const started = Date.now();
  await prunedBy(cache.dir, () => first.host.import<X>('authService/x'), PRUNE_DELAY_MS + 5000);
  assert.ok(Date.now() - started >= PRUNE_DELAY_MS - 50, 'not at once, while the version is still loading');
  const ran = await pruneState(cache.dir);

  const oldEntry = storePath(cache.dir, integrityOf(Buffer.from('old and unreferenced')));
  const neverEntry = storePath(neverCache.dir, integrityOf(Buffer.from('old and unreferenced')));
  for (const entry of [oldEntry, neverEntry]) {
    await mkdir(join(entry, '..'), { recursive: true });
    await writeFile(entry, 'old and unreferenced');
  }
  await age(cache.dir);
  await age(neverCache.dir);
  await auth.publish(2);
  assert.equal((await first.host.update('authService'))[0]?.status, 'activated');
  // Another host (another process, as far as the folder knows) records a new manifest too: prune.json says a run
  // happened a moment ago, so it does not run either.
  await auth.publish(3);
  const second = hostOf({ authService: auth.url }, cache.dir, { cache: { pruneInterval: 60_000 } });
  assert.equal((await second.host.import<X>('authService/x')).version, 3);
  // And a host that never prunes, on a folder of its own.
  const never = hostOf({ authService: auth.url }, neverCache.dir, { cache: { pruneInterval: false } });
  assert.equal((await never.host.import<X>('authService/x')).version, 3);
  await sleep(PRUNE_DELAY_MS + 500);
  try {
    assert.equal(await pruneState(cache.dir), ran, 'no second run within the interval');
    assert.equal(await readFile(oldEntry, 'utf8'), 'old and unreferenced');
    assert.equal(await pruneState(neverCache.dir), undefined, 'cache.pruneInterval: false never prunes');
    assert.equal(await readFile(neverEntry, 'utf8'), 'old and unreferenced');
  } finally {
    await first.host.close();
    await second.host.close();
    await never.host.close();
  }
});

test('the options are validated: typed errors that name the option and the fix', () => {
  const remotes = { authService: 'http://127.0.0.1:1/mf-manifest.json' };
  const invalid = (options: Partial<HostOptions>, option: string, message: RegExp) =>
    assert.throws(
      () => createHost({ name: 'h', remotes, onWarning: () => {}, ...options }),
      (error: unknown) =>
        error instanceof InvalidOptionError &&
        (error as InvalidOptionError & { option?: string }).option === option &&
        message.test(error.message),
    );
  for (const value of [0, 1.5, -1, '3', Number.POSITIVE_INFINITY]) {
    invalid(
      { cache: { versions: value as number } },
      'cache.versions',
      /cache\.versions must be a whole number of at least 1/,
    );
  }
  invalid(
    { remotes: { authService: { url: remotes.authService, cache: { versions: 0 } } } },
    'remotes.authService.cache.versions',
    /remotes\.authService\.cache\.versions must be a whole number/,
  );
  for (const value of [-1, 'soon', true, Number.NaN]) {
    invalid(
      { cache: { pruneInterval: value as number } },
      'cache.pruneInterval',
      /cache\.pruneInterval must be a number of ms .* or false \(never prune\)/,
    );
  }
  invalid(
    { remotes: { authService: { url: remotes.authService, cache: { pruneInterval: 0 } } as never } },
    'remotes.authService.cache.pruneInterval',
    /is a host option.*Set cache\.pruneInterval on createHost\(\) instead/,
  );
  for (const ok of [
    { cache: { versions: 1 } },
    { cache: { versions: 10, pruneInterval: 0 } },
    { cache: { pruneInterval: false } },
  ]) {
    createHost({ name: 'h', remotes, onWarning: () => {}, ...(ok as Partial<HostOptions>) }).close();
  }
});

test('version folders (assets laid out per version) of versions no record references go; kept, young and foreign ones stay', async () => {
  await using cache = await createTempProject({});
  await using auth = await startRemote('authService');
  const v1 = await auth.publish(1);
  const { host, warnings } = hostOf({ authService: auth.url }, cache.dir, { cache: { pruneInterval: 0 } });
  try {
    await prunedBy(cache.dir, () => host.import<X>('authService/x'));
    // Folders as a host lays them out (version/version-folder.ts): read-only files in folders of mode 0700.
    const versions = join(cache.dir, 'versions');
    const layOut = async (name: string) => {
      const dir = join(versions, name, 'src', 'data');
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await writeFile(join(dir, 'table.json'), '{}', { mode: 0o444 });
      return join(versions, name);
    };
    const current = await layOut(versionFolderName('authService', '1.1.0', integrityOf(v1.bytes)));
    const forgotten = await layOut(versionFolderName('authService', '0.9.0', integrityOf(Buffer.from('old'))));
    const other = await layOut(versionFolderName('otherService', '2.0.0', integrityOf(Buffer.from('gone'))));
    const notOurs = await layOut('operator-notes');
    await ageAll(versions);
    // Laid out a moment ago by a host whose record is still to come: within the grace period.
    const young = await layOut(versionFolderName('authService', '3.0.0', integrityOf(Buffer.from('young'))));

    await auth.publish(2);
    assert.equal((await prunedBy(cache.dir, () => host.update('authService')))[0]?.status, 'activated');
    const left = new Set(await readdir(versions));
    assert.ok(left.has(basename(current)), 'the previous version is in the history: its folder stays');
    assert.ok(left.has(basename(young)), 'a young folder stays');
    assert.ok(left.has(basename(notOurs)), 'a folder not named like a version stays');
    assert.ok(!left.has(basename(forgotten)), 'a version no record references is removed');
    assert.ok(!left.has(basename(other)), "another remote's unreferenced version is removed too");
    const state = JSON.parse((await pruneState(cache.dir))!);
    assert.equal(state.removedFolders, 2, JSON.stringify(state));
    assert.deepEqual(
      warnings.filter((w) => w.code !== 'FERRY_UNSIGNED_REMOTE'),
      [],
    );
  } finally {
    await host.close();
  }
});
