/**
 * The content store's layout (src/runtime/cache/file-cache.ts): flat, `<cache.dir>/files/<name>` (issue 21: a folder
 * per two characters cost a `mkdir` per file on a cold start). Caches written before, `files/<2 chars>/<name>`, keep
 * working: a restart with the remote down starts from them and leaves the entries flat; a tampered or planted legacy
 * entry is refused and deleted like a flat one; pruning removes unreferenced legacy entries and the folders it left
 * empty, and keeps referenced ones. The legacy layout is made by moving a real cache's files into two-character
 * folders, as the previous ferry laid them out; remotes are real loopback servers.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lstat, mkdir, readdir, readFile, rename, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createHost, type FerryWarning } from '../src/index.ts';
import { integrityOf } from '../src/manifest/index.ts';
import { pruneCache } from '../src/runtime/cache/cache-prune.ts';
import { entryNameOf, FileCache } from '../src/runtime/cache/file-cache.ts';
import { createFerryServer } from '../src/server/index.ts';
import { toFormat1 } from './helpers/cache-format.ts';
import { createTempProject } from './helpers/temp-project.ts';
import { createSignedRemote, type SignedRemote } from './helpers/trust-fixture.ts';

const HOUR = 3_600_000;

/** Where the previous ferry kept an entry: in a folder named by its name's first two characters. */
function legacyPath(cacheDir: string, name: string): string {
  return join(cacheDir, 'files', name.slice(0, 2), name);
}

/** Moves every flat entry of `cacheDir` to where the previous ferry kept it; returns the names moved. */
async function toLegacyLayout(cacheDir: string): Promise<string[]> {
  const files = join(cacheDir, 'files');
  const moved: string[] = [];
  for (const entry of await readdir(files, { withFileTypes: true })) {
    if (!entry.isFile()) continue;
    await mkdir(join(files, entry.name.slice(0, 2)), { recursive: true, mode: 0o700 });
    await rename(join(files, entry.name), legacyPath(cacheDir, entry.name));
    moved.push(entry.name);
  }
  return moved.sort();
}

/** The regular files directly in `<cacheDir>/files`, and its folders. */
async function flatListing(cacheDir: string): Promise<{ files: string[]; folders: string[] }> {
  const entries = await readdir(join(cacheDir, 'files'), { withFileTypes: true });
  return {
    files: entries.filter((e) => e.isFile()).map((e) => e.name),
    folders: entries.filter((e) => e.isDirectory()).map((e) => e.name),
  };
}

/** The entry names of everything a remote publishes now: manifest, signature, each file. */
async function entryNames(remote: SignedRemote): Promise<string[]> {
  return [...(await remote.files()).values()].map((bytes) => entryNameOf(integrityOf(bytes)));
}

/** The manifest and signature a remote publishes now (which records of format 1 kept in the content store). */
async function manifestAndSignature(remote: SignedRemote): Promise<{ manifest: Buffer; signature: Buffer }> {
  const files = await remote.files();
  return { manifest: files.get('mf-manifest.json')!, signature: files.get('mf-manifest.json.sig')! };
}

const exists = (path: string) =>
  lstat(path).then(
    () => true,
    () => false,
  );

function hostOptions(remote: SignedRemote, cacheDir: string, warnings: FerryWarning[], url = remote.manifestUrl) {
  return {
    name: 'h',
    remotes: { authService: { url, publicKey: remote.publicKey } },
    cache: { dir: cacheDir, pruneInterval: false as const },
    live: { pollInterval: false as const, push: false },
    timeouts: { import: 5000 },
    onWarning: (warning: FerryWarning) => warnings.push(warning),
  };
}

async function importOnce(options: ReturnType<typeof hostOptions>): Promise<{ answer: number; source?: string }> {
  const host = createHost(options);
  try {
    const { answer } = await host.import<{ answer: number }>('authService/x');
    return { answer, source: host.remotes().authService?.source };
  } finally {
    await host.close();
  }
}

test('a cold load writes every entry flat: files/ holds no folder', async () => {
  await using remote = await createSignedRemote();
  await using cache = await createTempProject({});
  const warnings: FerryWarning[] = [];
  assert.equal((await importOnce(hostOptions(remote, cache.dir, warnings))).answer, 42);
  const { files, folders } = await flatListing(cache.dir);
  assert.deepEqual(folders, [], 'no folder per two characters');
  const { manifest, signature } = await manifestAndSignature(remote);
  const held = [manifest, signature].map((bytes) => entryNameOf(integrityOf(bytes)));
  const expected = (await entryNames(remote)).filter((name) => !held.includes(name));
  assert.equal(expected.length, 2, 'the container and the expose');
  assert.deepEqual(files.sort(), expected.sort(), 'each file flat; the manifest and signature are in the record');
  // The record holds them (format 2), each with its integrity.
  const [recordName] = await readdir(join(cache.dir, 'remotes'));
  const record = JSON.parse(await readFile(join(cache.dir, 'remotes', recordName!), 'utf8'));
  assert.equal(record.formatVersion, 2);
  assert.deepEqual(record.manifest, { integrity: integrityOf(manifest), base64: manifest.toString('base64') });
  assert.deepEqual(record.signature, { integrity: integrityOf(signature), base64: signature.toString('base64') });
});

test('a cache in the layout of before serves a restart with the remote down, and its entries are flat afterwards', async () => {
  await using remote = await createSignedRemote();
  await using cache = await createTempProject({});
  const warnings: FerryWarning[] = [];
  const options = hostOptions(remote, cache.dir, warnings);
  assert.equal((await importOnce(options)).answer, 42);
  // As the ferry of before wrote it: the record names the manifest and signature, which are content entries.
  await toFormat1(cache.dir);
  const moved = await toLegacyLayout(cache.dir);
  assert.deepEqual(moved, (await entryNames(remote)).sort());
  assert.deepEqual((await flatListing(cache.dir)).files, [], 'laid out as the previous ferry did');

  // The host was upgraded; its remote is down when it starts.
  await remote.server.close();
  remote.resetRuns();
  warnings.length = 0;
  const restarted = await importOnce(options);
  assert.equal(restarted.answer, 42);
  assert.equal(restarted.source, 'cache');
  assert.equal(remote.runs(), 2, 'the cached container and expose ran');
  assert.ok(
    warnings.some((w) => w.code === 'FERRY_STALE_CACHE'),
    warnings.map((w) => w.code).join(', '),
  );
  assert.deepEqual(
    warnings.filter((w) => w.code === 'FERRY_CACHE_ENTRY_CORRUPT'),
    [],
  );

  // Every entry it read is flat now, the same bytes; the legacy copies stay for a ferry of before.
  assert.deepEqual((await flatListing(cache.dir)).files.sort(), moved);
  for (const name of moved) {
    assert.deepEqual(await readFile(join(cache.dir, 'files', name)), await readFile(legacyPath(cache.dir, name)));
  }

  // The next start reads flat: without the legacy folders, it still starts from the cache.
  for (const folder of (await flatListing(cache.dir)).folders) {
    await rm(join(cache.dir, 'files', folder), { recursive: true });
  }
  warnings.length = 0;
  const again = await importOnce(options);
  assert.equal(again.answer, 42);
  assert.equal(again.source, 'cache');
});

test('a legacy entry is read where it is (the path reported for it), then flat; touch() marks the flat copy', async () => {
  await using project = await createTempProject({});
  const bytes = Buffer.from('verified bytes\n');
  const integrity = integrityOf(bytes);
  await new FileCache(project.dir, () => {}).write(integrity, bytes);
  await toLegacyLayout(project.dir);

  // A new process on the upgraded cache.
  const cache = new FileCache(project.dir, () => {});
  const legacy = legacyPath(project.dir, entryNameOf(integrity));
  assert.deepEqual(await cache.readEntry(integrity, bytes.byteLength), { bytes, path: legacy });
  assert.deepEqual(await cache.readEntry(integrity, bytes.byteLength), { bytes, path: cache.pathOf(integrity) });

  // A 304 confirms bytes read from the legacy entry: the flat entry is what pruning sees in use.
  await rm(cache.pathOf(integrity));
  const old = new Date(Date.now() - HOUR);
  await utimes(legacy, old, old);
  const again = new FileCache(project.dir, () => {});
  assert.deepEqual(await again.read(integrity, bytes.byteLength), bytes);
  await utimes(again.pathOf(integrity), old, old);
  await again.touch(integrity, bytes);
  assert.ok((await stat(again.pathOf(integrity))).mtimeMs > old.getTime() + 60_000, 'the flat entry was touched');

  // A cache without legacy folders is listed once; then a miss costs no lookup elsewhere.
  await using flat = await createTempProject({});
  const flatCache = new FileCache(flat.dir, () => {});
  await flatCache.write(integrityOf(Buffer.from('other')), Buffer.from('other'));
  assert.equal(await flatCache.read(integrity, bytes.byteLength), undefined);
  await mkdir(join(legacy, '..').replace(project.dir, flat.dir), { recursive: true });
  await writeFile(legacy.replace(project.dir, flat.dir), bytes);
  assert.equal(await flatCache.read(integrity, bytes.byteLength), undefined, 'no legacy folder was seen at the miss');
});

test('a tampered or planted entry in a legacy folder is refused, deleted and fetched again, never run', async () => {
  await using remote = await createSignedRemote();
  // ferry's own server (ETags): the restart's manifest is a 304, so its files are read from the cache.
  const served = await createFerryServer({ dir: remote.project.dir, port: 0 });
  await using cache = await createTempProject({});
  const warnings: FerryWarning[] = [];
  const options = hostOptions(remote, cache.dir, warnings, `${served.url}mf-manifest.json`);
  try {
    assert.equal((await importOnce(options)).answer, 42);
    const manifest = JSON.parse(await readFile(join(remote.project.dir, 'mf-manifest.json'), 'utf8'));
    const files = manifest.ferry.files as Record<string, { integrity: string; size: number }>;
    const exposeFile = manifest.ferry.exposes['./x'].file as string;
    const expose = files[exposeFile]!;
    const container = files[manifest.ferry.remoteEntry]!;
    const exposePath = legacyPath(cache.dir, entryNameOf(expose.integrity));
    const containerPath = legacyPath(cache.dir, entryNameOf(container.integrity));
    const canary = '__ferryLegacyTamperRan';

    const restart = async (what: string) => {
      remote.resetRuns();
      warnings.length = 0;
      const started = performance.now();
      assert.equal((await importOnce(options)).answer, 42, what);
      assert.ok(performance.now() - started < 5000, `${what}: the import did not wait on the planted file`);
      assert.equal((globalThis as Record<string, unknown>)[canary], undefined, `${what}: the planted code never ran`);
      assert.equal(remote.runs(), 2, `${what}: the verified container and expose ran`);
      const corrupt = warnings.filter((w) => w.code === 'FERRY_CACHE_ENTRY_CORRUPT');
      assert.equal(corrupt.length, 2, `${what}: ${warnings.map((w) => w.message).join('\n')}`);
      assert.ok(corrupt.some((w) => w.message.includes(exposePath)));
      assert.ok(corrupt.some((w) => w.message.includes(containerPath)));
      assert.ok(!(await exists(exposePath)), `${what}: the planted expose entry was deleted`);
      assert.ok(!(await exists(containerPath)), `${what}: the planted container entry was deleted`);
      for (const entry of [expose, container]) {
        const flat = join(cache.dir, 'files', entryNameOf(entry.integrity));
        assert.equal(integrityOf(await readFile(flat)), entry.integrity, `${what}: fetched again and stored flat`);
      }
    };

    // Wrong bytes of the right length under the expose's name, a FIFO under the container's.
    await toLegacyLayout(cache.dir);
    const original = await readFile(exposePath);
    await writeFile(exposePath, `globalThis.${canary} = true; exports.answer = 666;`.padEnd(original.length, ' '));
    assert.equal((await stat(exposePath)).size, expose.size);
    await rm(containerPath);
    assert.equal(spawnSync('mkfifo', [containerPath]).status, 0, 'mkfifo');
    await restart('wrong bytes and a FIFO');

    // A file larger than the expose it stands for, a link to /dev/zero under the container's name.
    await toLegacyLayout(cache.dir);
    await writeFile(exposePath, `globalThis.${canary} = true;`.padEnd(expose.size * 4, ' '));
    await rm(containerPath);
    await symlink('/dev/zero', containerPath);
    await restart('an oversized file and a symlink');
  } finally {
    await served.close();
  }
});

test('pruning removes unreferenced legacy entries and the legacy folders it leaves empty, and keeps referenced ones', async () => {
  await using remote = await createSignedRemote();
  await using cache = await createTempProject({});
  const warnings: FerryWarning[] = [];
  const options = {
    ...hostOptions(remote, cache.dir, warnings),
    cache: { dir: cache.dir, pruneInterval: false as const, versions: 2 },
  };

  // Versions 1, 2 and 3 followed by one host: its record protects 3 and 2 (cache.versions: 2), not 1.
  const host = createHost(options);
  const versions = [await entryNames(remote)];
  const manifests = [await manifestAndSignature(remote)];
  try {
    assert.equal((await host.import<{ answer: number }>('authService/x')).answer, 42);
    for (const v of [2, 3]) {
      await remote.publish({
        release: v,
        version: `1.${v}.0`,
        exposes: { './x': { code: `${remote.canary}exports.answer = ${100 + v};\n` } },
      });
      assert.equal((await host.update('authService'))[0]?.status, 'activated', `version ${v}`);
      versions.push(await entryNames(remote));
      manifests.push(await manifestAndSignature(remote));
    }
  } finally {
    await host.close();
  }
  // A cache of before: records of format 1, their manifests and signatures content entries (version 1's too, which
  // the record no longer names).
  await toFormat1(cache.dir, manifests);
  const kept = new Set([...versions[1]!, ...versions[2]!]);
  const unreferenced = versions[0]!.filter((name) => !kept.has(name));
  assert.equal(unreferenced.length, 4, 'manifest, signature, container and expose of version 1');

  // Laid out as the previous ferry did, all of it old; with what else a cache of before may hold.
  const files = join(cache.dir, 'files');
  assert.deepEqual(await toLegacyLayout(cache.dir), [...new Set(versions.flat())].sort());
  const oldEntry = entryNameOf(integrityOf(Buffer.from('an entry nothing references')));
  await mkdir(join(files, oldEntry.slice(0, 2)), { recursive: true });
  await writeFile(legacyPath(cache.dir, oldEntry), 'an entry nothing references');
  const oldTemporary = join(files, oldEntry.slice(0, 2), `.${oldEntry}.4242.0123456789ab.tmp`);
  await writeFile(oldTemporary, 'half');
  const used = new Set((await flatListing(cache.dir)).folders);
  const emptyShard = ['xq', 'qx', 'zq', 'qz', 'xz'].find((name) => !used.has(name))!;
  await mkdir(join(files, emptyShard));
  const foreignShard = ['zz', 'yy', 'ww', 'vv'].find((name) => !used.has(name))!;
  await mkdir(join(files, foreignShard));
  await writeFile(join(files, foreignShard, 'NOTES.txt'), 'an operator wrote this');
  const foreignFolder = join(files, 'operator-notes');
  await mkdir(foreignFolder);
  await writeFile(join(foreignFolder, oldEntry), 'not in a folder ferry writes');
  // A two-character link to a folder elsewhere: pruning does not follow it.
  const outside = join(cache.dir, 'elsewhere');
  await mkdir(outside);
  await writeFile(join(outside, oldEntry), 'outside the cache');
  const linkShard = ['uu', 'tt', 'ss'].find((name) => !used.has(name))!;
  await symlink(outside, join(files, linkShard));
  const past = new Date(Date.now() - HOUR);
  for (const entry of await readdir(cache.dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isSymbolicLink()) await utimes(join(entry.parentPath, entry.name), past, past);
  }
  // Written a moment ago by a host of before whose record is still to come: within the grace period.
  const fresh = entryNameOf(integrityOf(Buffer.from('written a moment ago')));
  await mkdir(join(files, fresh.slice(0, 2)), { recursive: true });
  await writeFile(legacyPath(cache.dir, fresh), 'written a moment ago');

  const result = await pruneCache(new FileCache(cache.dir, () => {}));
  assert.equal(result.removed, unreferenced.length + 2, JSON.stringify(result));

  for (const name of unreferenced) assert.ok(!(await exists(legacyPath(cache.dir, name))), `${name} was removed`);
  for (const name of kept) assert.ok(await exists(legacyPath(cache.dir, name)), `${name} is referenced: kept`);
  assert.ok(!(await exists(legacyPath(cache.dir, oldEntry))));
  assert.ok(!(await exists(oldTemporary)));
  assert.ok(await exists(legacyPath(cache.dir, fresh)), 'within the grace period: kept');
  assert.equal(await readFile(join(files, foreignShard, 'NOTES.txt'), 'utf8'), 'an operator wrote this');
  assert.equal(await readFile(join(foreignFolder, oldEntry), 'utf8'), 'not in a folder ferry writes');
  assert.equal(await readFile(join(outside, oldEntry), 'utf8'), 'outside the cache');
  assert.ok((await lstat(join(files, linkShard))).isSymbolicLink(), 'the link stays');
  // Exactly the legacy folders that still hold something remain: the ones emptied (and the empty one) are gone.
  const expectedFolders = new Set([...kept, fresh].map((name) => name.slice(0, 2)));
  expectedFolders.add(foreignShard);
  expectedFolders.add('operator-notes');
  assert.deepEqual((await flatListing(cache.dir)).folders.sort(), [...expectedFolders].sort());
  assert.ok(!expectedFolders.has(emptyShard));

  // What was kept still serves: a restart with the remote down starts version 3 from the legacy entries.
  await remote.server.close();
  warnings.length = 0;
  const restarted = await importOnce(options);
  assert.equal(restarted.answer, 103);
  assert.equal(restarted.source, 'cache');
});
