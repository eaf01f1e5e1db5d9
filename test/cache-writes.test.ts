/**
 * What the scale fixes of issue 21 changed in the host's writes keeps its guarantees: acceptances that share one
 * write of releases.json each resolve only once their own record is on disk; the content store makes each folder once
 * and still writes when a folder went away; a 304 marks the cached manifest in use (its mtime, for pruning) without
 * rewriting it; a module compiled while its file is being written runs only once the file and the version's record
 * are on disk.
 */
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHost } from '../src/index.ts';
import { integrityOf } from '../src/manifest/index.ts';
import { FileCache } from '../src/runtime/cache/file-cache.ts';
import { ReleaseStore } from '../src/runtime/trust/release-store.ts';
import { createFerryServer } from '../src/server/index.ts';
import { toFormat1 } from './helpers/cache-format.ts';
import { writeRemoteOutput } from './helpers/remote-output.ts';
import { createTempProject } from './helpers/temp-project.ts';
import { createSignedRemote } from './helpers/trust-fixture.ts';

const require = createRequire(import.meta.url);

test('acceptances made while releases.json is written share writes, and each resolves only once it is on disk', async () => {
  await using project = await createTempProject({});
  const warnings: string[] = [];
  const store = ReleaseStore.open(project.dir, (code) => warnings.push(code));
  const keys = Array.from({ length: 30 }, (_, i) => `remote${i}@http://127.0.0.1:${4000 + i}`);
  const onDisk = async () =>
    (JSON.parse(await readFile(join(project.dir, 'releases.json'), 'utf8')) as { remotes: Record<string, unknown> })
      .remotes;
  // Issued a little apart, so that some arrive while a write is reading, merging or flushing the file.
  const pending: Array<Promise<boolean>> = [];
  for (const [i, key] of keys.entries()) {
    pending.push(
      store.accept(key, 100 + i, `sha384-${'A'.repeat(63)}${i % 10}`, true).then(async () => {
        // Resolved: the record is in the file as it is on disk now.
        return Object.hasOwn(await onDisk(), key);
      }),
    );
    await sleep(i % 3 === 0 ? 1 : 0);
  }
  const seen = await Promise.all(pending);
  assert.deepEqual(
    seen,
    keys.map(() => true),
  );
  const remotes = await onDisk();
  for (const [i, key] of keys.entries()) assert.equal((remotes[key] as { release: number }).release, 100 + i);
  assert.deepEqual(warnings, []);
  // A new store reads them back: the floor survives a restart.
  assert.throws(() =>
    ReleaseStore.open(project.dir, () => {}).check(keys[3]!, 50, 'sha384-x', { remote: 'r', url: 'u' }),
  );
  await store.close();
});

test('releases.json is written into a cache folder made at its first write, and made again when it went away', async () => {
  await using project = await createTempProject({});
  const dir = join(project.dir, 'not', 'yet');
  const warnings: string[] = [];
  const store = ReleaseStore.open(dir, (code) => warnings.push(code));
  const integrity = `sha384-${'A'.repeat(64)}`;
  await store.accept('r@http://127.0.0.1:1', 1, integrity, true);
  assert.match(await readFile(join(dir, 'releases.json'), 'utf8'), /"release": 1/);
  await rm(dir, { recursive: true });
  await store.accept('r@http://127.0.0.1:1', 2, integrity, true);
  assert.match(await readFile(join(dir, 'releases.json'), 'utf8'), /"release": 2/);
  assert.equal((await stat(dir)).mode & 0o777, 0o700);
  assert.deepEqual(warnings, []);
  await store.close();
});

test('the content store makes each folder once, and writes again into a folder that was removed meanwhile', async () => {
  await using project = await createTempProject({});
  const cache = new FileCache(project.dir, () => {});
  const bytes = Buffer.from('verified bytes\n');
  const integrity = integrityOf(bytes);
  await cache.write(integrity, bytes);
  assert.deepEqual(await cache.read(integrity, bytes.byteLength), bytes);
  // Someone empties the cache folder while the host runs: the next write makes the folder again.
  await rm(join(project.dir, 'files'), { recursive: true, force: true });
  await cache.write(integrity, bytes);
  assert.deepEqual(await cache.read(integrity, bytes.byteLength), bytes);
  const mode = (await stat(join(project.dir, 'files'))).mode & 0o777;
  assert.equal(mode, 0o700, 'the folder is private to the host, as before');
});

test('the record holds the manifest; a 304 on a record of before (format 1) moves its manifest into it; the remote gone, the host starts from it', async (t) => {
  await using project = await createTempProject({});
  const dir = project.path('remote');
  const { bytes } = await writeRemoteOutput(dir, {
    name: 'authService',
    format: 'esm',
    exposes: { './x': { code: 'const answer = () => 42;\nreturn __ferryNamespace({ answer: () => answer });\n' } },
  });
  const server = await createFerryServer({ dir, port: 0 });
  const statuses: number[] = [];
  const onFetch = (message: unknown) => statuses.push((message as { status: number }).status);
  subscribe('ferry:fetch', onFetch);
  t.after(async () => {
    unsubscribe('ferry:fetch', onFetch);
    await server.close();
  });
  const cacheDir = project.path('cache');
  const options = {
    name: 'h',
    remotes: { authService: `${server.url}mf-manifest.json` },
    cache: { dir: cacheDir },
    onWarning: () => {},
  };
  const answer = async () => {
    const host = createHost(options);
    try {
      return ((await host.import('authService/x')) as { answer(): number }).answer();
    } finally {
      await host.close();
    }
  };
  const records = join(cacheDir, 'remotes');
  const record = async () => {
    const [name] = (await readdir(records)).filter((file) => file.endsWith('.json'));
    return JSON.parse(await readFile(join(records, name!), 'utf8'));
  };
  const entry = join(cacheDir, 'files', integrityOf(bytes).slice(7).replaceAll('+', '-').replaceAll('/', '_'));

  assert.equal(await answer(), 42);
  assert.equal((await record()).formatVersion, 2);
  assert.deepEqual(Buffer.from((await record()).manifest.base64, 'base64'), bytes, 'the record holds the manifest');
  assert.equal(existsSync(entry), false, 'and the content store does not');

  // As a ferry of before left it: a record of format 1, the manifest a content entry. A 304 rewrites it.
  await toFormat1(cacheDir);
  assert.deepEqual(await readFile(entry), bytes);
  assert.equal((await record()).formatVersion, 1);
  assert.equal(await answer(), 42);
  assert.ok(statuses.includes(304), `the restart was answered 304 (${statuses.join(', ')})`);
  assert.equal((await record()).formatVersion, 2, 'the 304 moved the manifest into the record');
  assert.deepEqual(Buffer.from((await record()).manifest.base64, 'base64'), bytes);

  // Started again with the remote gone, the host starts from that record.
  await server.close();
  assert.equal(await answer(), 42);
});

test('a record whose manifest no longer matches its integrity is reported and not used: the manifest is fetched', async () => {
  await using remote = await createSignedRemote();
  await using project = await createTempProject({});
  const warnings: { code: string; message: string }[] = [];
  const options = {
    name: 'h',
    remotes: { authService: { url: remote.manifestUrl, publicKey: remote.publicKey } },
    cache: { dir: project.dir },
    onWarning: (warning: { code: string; message: string }) => warnings.push(warning),
  };
  const load = async () => {
    const host = createHost(options);
    try {
      return (await host.import<{ answer: number }>('authService/x')).answer;
    } finally {
      await host.close();
    }
  };
  assert.equal(await load(), 42);
  const [name] = (await readdir(join(project.dir, 'remotes'))).filter((file) => file.endsWith('.json'));
  const path = join(project.dir, 'remotes', name!);
  const record = JSON.parse(await readFile(path, 'utf8'));
  // Another manifest's bytes under the accepted manifest's integrity.
  const other = Buffer.from(record.manifest.base64, 'base64').toString('utf8').replace('"1.0.0"', '"6.6.6"');
  record.manifest.base64 = Buffer.from(other).toString('base64');
  await writeFile(path, JSON.stringify(record));
  remote.resetRuns();
  assert.equal(await load(), 42, 'the manifest the remote serves');
  const corrupt = warnings.filter((w) => w.code === 'FERRY_CACHE_ENTRY_CORRUPT');
  assert.equal(corrupt.length, 1, warnings.map((w) => w.message).join('\n'));
  assert.match(
    corrupt[0]!.message,
    new RegExp(`${name!.replaceAll('.', '\\.')} holds a manifest or signature that no longer matches`),
  );
  // Written again from the remote's answer.
  assert.deepEqual(JSON.parse(await readFile(path, 'utf8')).manifest.integrity, record.manifest.integrity);
  assert.notEqual(JSON.parse(await readFile(path, 'utf8')).manifest.base64, record.manifest.base64);
});

test('a 304 with the same ETag marks the record confirmed (its time) without writing it; the stale age counts from it', async (t) => {
  await using project = await createTempProject({});
  const dir = project.path('remote');
  await writeRemoteOutput(dir, {
    name: 'authService',
    format: 'esm',
    exposes: { './x': { code: 'const answer = () => 42;\nreturn __ferryNamespace({ answer: () => answer });\n' } },
  });
  const server = await createFerryServer({ dir, port: 0 });
  t.after(() => server.close());
  const warnings: { code: string; message: string }[] = [];
  const options = {
    name: 'h',
    remotes: { authService: `${server.url}mf-manifest.json` },
    cache: { dir: project.path('cache') },
    onWarning: (warning: { code: string; message: string }) => warnings.push(warning),
  };
  const first = createHost(options);
  await first.import('authService/x');
  await first.close();
  const records = join(project.path('cache'), 'remotes');
  const [name] = (await readdir(records)).filter((file) => file.endsWith('.json'));
  const record = join(records, name!);
  // As if the remote had last served it two hours ago.
  const twoHoursAgo = Date.now() - 2 * 3_600_000;
  const text = (await readFile(record, 'utf8')).replace(/"fetchedAt": \d+/, `"fetchedAt": ${twoHoursAgo}`);
  await writeFile(record, text);
  await utimes(record, new Date(twoHoursAgo), new Date(twoHoursAgo));
  const before = await stat(record);

  const second = createHost(options);
  await second.import('authService/x');
  await second.close();
  const after = await stat(record);
  assert.equal(await readFile(record, 'utf8'), text, 'the record was not written again');
  assert.equal(after.ino, before.ino, 'the same file, not a new one renamed over it');
  assert.ok(after.mtimeMs > Date.now() - 60_000, 'its time says when the remote confirmed it');
  const files = new FileCache(project.path('cache'), () => {});
  const confirmed = await files.readRecord('authService', options.remotes.authService);
  assert.ok(confirmed && confirmed.fetchedAt > Date.now() - 60_000, `fetchedAt ${confirmed?.fetchedAt}`);

  // With the remote gone, the copy is served, and its age is the 304's, not the first fetch's.
  await server.close();
  const third = createHost(options);
  assert.equal(((await third.import('authService/x')) as { answer(): number }).answer(), 42);
  await third.close();
  const stale = warnings.find((warning) => warning.code === 'FERRY_STALE_CACHE');
  const at = /\((\d{4}-\d\d-\d\dT[^)]+)\)/.exec(stale?.message ?? '')?.[1];
  assert.ok(at && Date.parse(at) > Date.now() - 60_000, `the stale copy's time: ${stale?.message}`);
});

test('confirming a record whose file is gone writes it again', async () => {
  await using project = await createTempProject({});
  const files = new FileCache(project.dir, () => {});
  const record = {
    formatVersion: 1 as const,
    url: 'http://127.0.0.1:1/mf-manifest.json',
    manifest: `sha384-${'A'.repeat(64)}`,
    fetchedAt: 1000,
  };
  await files.confirmRecord('authService', record);
  assert.equal((await files.readRecord('authService', record.url))?.manifest, record.manifest);
});

test('a module compiled while its file is written to the cache runs only once the file and the record are on disk', async (t) => {
  await using project = await createTempProject({});
  const dir = project.path('remote');
  const cacheDir = project.path('cache');
  // ~4 MB (a comment, quick to compile, slow enough to write) in each of two exposes: the expose loaded without the
  // container (compiled before the version's record is written) and the one its code imports (compiled once fetched).
  const padding = `/*${'x'.repeat(4 * 1024 * 1024)}*/\n`;
  const probe = `const seen = globalThis.__ferryCacheProbe(__filename);\n`;
  const y = `${padding}return (async () => {\n${probe}return __ferryNamespace({ seen: () => seen });\n})();\n`;
  // The name writeRemoteOutput gives ./y's file.
  const yFile = `y.${integrityOf(Buffer.from(y))
    .slice(7, 17)
    .replace(/[^A-Za-z0-9]/g, 'x')}.js`;
  const { manifest } = await writeRemoteOutput(dir, {
    name: 'authService',
    format: 'esm',
    exposes: {
      './x': {
        code:
          `${padding}return (async () => {\n${probe}const later = await __fImp('./${yFile}');\n` +
          'return __ferryNamespace({ seen: () => seen, later: () => later.seen });\n})();\n',
      },
      './y': { code: y },
    },
  });
  const server = await createFerryServer({ dir, port: 0 });
  t.after(() => server.close());
  const fileOf = (integrity: string) =>
    join(cacheDir, 'files', integrity.slice(7).replaceAll('+', '-').replaceAll('/', '_'));
  const probes = new Map<string, { cached: number; expected: number; records: number }>();
  (globalThis as { __ferryCacheProbe?: unknown }).__ferryCacheProbe = (filename: string) => {
    const file = Object.keys(manifest.ferry.files).find((name) => filename.endsWith(`/${name}`))!;
    const entry = manifest.ferry.files[file]!;
    const { statSync, readdirSync } = require('node:fs') as typeof import('node:fs');
    const size = (() => {
      try {
        return statSync(fileOf(entry.integrity)).size;
      } catch {
        return -1;
      }
    })();
    const records = readdirSync(join(cacheDir, 'remotes')).filter((name) => name.endsWith('.json')).length;
    probes.set(file, { cached: size, expected: entry.size, records });
    return true;
  };
  t.after(() => {
    delete (globalThis as { __ferryCacheProbe?: unknown }).__ferryCacheProbe;
  });
  const host = createHost({
    name: 'h',
    remotes: { authService: `${server.url}mf-manifest.json` },
    cache: { dir: cacheDir },
    onWarning: () => {},
  });
  const loaded = (await host.import('authService/x')) as { seen: boolean; later: boolean };
  await host.close();
  assert.deepEqual([loaded.seen, loaded.later], [true, true]);
  assert.equal(probes.size, 2, [...probes.keys()].join(', '));
  for (const [file, { cached, expected, records }] of probes) {
    assert.equal(cached, expected, `${file} was whole in the cache when its code ran`);
    assert.equal(records, 1, `the version's record was on disk when ${file} ran`);
  }
});
