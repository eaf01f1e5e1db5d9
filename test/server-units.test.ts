/**
 * The server's pieces on their own (URL to file name, hash detection, If-None-Match, content types, option errors)
 * and createFerryServer's lifecycle: URL, listen errors, closing with open keep-alive connections, and the
 * container name read from the manifest.
 */
import assert from 'node:assert/strict';
import { mkdir, rename, symlink, writeFile } from 'node:fs/promises';
import { Agent, get } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { InvalidOptionError } from '../src/common/errors.ts';
import { containerFileFor, signatureFileFor } from '../src/manifest/index.ts';
import {
  contentTypeOf,
  createFerryServer,
  createRequestHandler,
  ifNoneMatchMatches,
  looksContentHashed,
} from '../src/server/index.ts';
import { fileNameFromUrl } from '../src/server/resolve-path.ts';
import { createServedFolder, HASHED_FILE, HASHED_MAP, manifestFor, rawRequest } from './helpers/server-fixture.ts';

test('fileNameFromUrl decodes once, strips the prefix and query, and refuses hostile syntax', () => {
  const cases: Array<[url: string, prefix: string, expected: ReturnType<typeof fileNameFromUrl>]> = [
    ['/mf-manifest.json', '', { kind: 'file', name: 'mf-manifest.json' }],
    ['/mf-manifest.json?x=../../y', '', { kind: 'file', name: 'mf-manifest.json' }],
    ['/federation/sub/a%20b.js', '/federation', { kind: 'not-found' }],
    ['/federation/a%2Db.js', '/federation', { kind: 'file', name: 'a-b.js' }],
    ['/federation/sub/a.js', '/federation', { kind: 'file', name: 'sub/a.js' }],
    ['/federationx/a.js', '/federation', { kind: 'not-found' }],
    ['/federation', '/federation', { kind: 'not-found' }],
    ['/other/a.js', '/federation', { kind: 'not-found' }],
    ['/../package.json', '', { kind: 'not-found' }],
    ['/%2e%2e/package.json', '', { kind: 'not-found' }],
    ['/.%2e/x', '', { kind: 'not-found' }],
    ['/%252e%252e/x', '', { kind: 'not-found' }],
    ['/.hidden', '', { kind: 'not-found' }],
    ['/a//b.js', '', { kind: 'not-found' }],
    ['/%2e%2e%2fpackage.json', '', { kind: 'bad-request' }],
    ['/..%2Fpackage.json', '', { kind: 'bad-request' }],
    ['/a%2fb.js', '', { kind: 'bad-request' }],
    ['/..\\x', '', { kind: 'bad-request' }],
    ['/%5c..%5cx', '', { kind: 'bad-request' }],
    ['/%00', '', { kind: 'bad-request' }],
    ['/%', '', { kind: 'bad-request' }],
    ['/%E0%A4%A', '', { kind: 'bad-request' }],
    ['http://evil/mf-manifest.json', '', { kind: 'bad-request' }],
    ['*', '', { kind: 'bad-request' }],
  ];
  for (const [url, prefix, expected] of cases) {
    assert.deepEqual(fileNameFromUrl(url, prefix), expected, `${url} with prefix ${JSON.stringify(prefix)}`);
  }
});

test('looksContentHashed accepts esbuild and hex hashes and nothing that reads like a word', () => {
  for (const name of [
    HASHED_FILE,
    HASHED_MAP,
    'utils-a.QWERTYUI.js',
    'x.0123abcd.d.ts',
    'sub/a.ABCDEFGH.cjs',
    'tokenValidator.3f9a0b1c2d.js',
    'tokenValidator.3f9a0b1c2d.js.map',
  ]) {
    assert.ok(looksContentHashed(name), name);
  }
  for (const name of [
    'remoteEntry.js',
    'mf-manifest.json',
    'a.polyfill.js',
    'a.browser.js',
    'a.chromium1.js',
    'a.deadbeef.js',
    'a.ABC123.js',
    'a.ABCD2345.json',
    'a.ABCD2345.js.txt',
  ]) {
    assert.ok(!looksContentHashed(name), name);
  }
});

test('ifNoneMatchMatches compares weakly over lists', () => {
  assert.ok(ifNoneMatchMatches('"a"', '"a"'));
  assert.ok(ifNoneMatchMatches('W/"a"', '"a"'));
  assert.ok(ifNoneMatchMatches('"b" ,  W/"a"', '"a"'));
  assert.ok(ifNoneMatchMatches('*', '"a"'));
  assert.ok(!ifNoneMatchMatches('"ab"', '"a"'));
  assert.ok(!ifNoneMatchMatches('a', '"a"'));
  assert.ok(!ifNoneMatchMatches(undefined, '"a"'));
  assert.ok(!ifNoneMatchMatches('', '"a"'));
});

test('contentTypeOf uses the fixed table', () => {
  assert.equal(contentTypeOf('a.js'), 'text/javascript; charset=utf-8');
  assert.equal(contentTypeOf('a.js.map'), 'application/json; charset=utf-8');
  assert.equal(contentTypeOf('mf-manifest.json.sig'), 'application/json; charset=utf-8');
  assert.equal(contentTypeOf('a.d.ts'), 'text/plain; charset=utf-8');
  assert.equal(contentTypeOf('a.html'), 'application/octet-stream');
});

test('createRequestHandler reports a missing folder, a file, unknown options and a bad prefix', async () => {
  await using project = await createServedFolder().then((folder) => folder.project);
  const missing = project.path('dist', 'nope');
  assert.throws(
    () => createRequestHandler({ dir: missing }),
    (error: unknown) =>
      error instanceof InvalidOptionError &&
      error.option === 'dir' &&
      error.message.includes(missing) &&
      error.message.includes('ferry build'),
  );
  assert.throws(
    () => createRequestHandler({ dir: project.path('package.json') }),
    (error: unknown) => error instanceof InvalidOptionError && error.message.includes('is not a folder'),
  );
  const dir = project.path('dist', 'federation');
  assert.throws(
    () => createRequestHandler({ dir, root: '/' } as never),
    (error: unknown) => error instanceof InvalidOptionError && error.option === 'root',
  );
  for (const prefix of ['federation', '/a/../b', '/a b', '/%2e']) {
    assert.throws(
      () => createRequestHandler({ dir, prefix }),
      (error: unknown) => error instanceof InvalidOptionError && error.option === 'prefix',
      prefix,
    );
  }
  assert.doesNotThrow(() => createRequestHandler({ dir, prefix: '/federation/' }));
});

test('createFerryServer serves at the root, rejects a busy port, and closes with idle keep-alive connections', async () => {
  const folder = await createServedFolder();
  await using _project = folder.project;
  const server = await createFerryServer({ dir: folder.dir, port: 0 });
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  const response = await fetch(`${server.url}mf-manifest.json`);
  assert.equal(response.status, 200);
  assert.equal(await response.text(), folder.files['mf-manifest.json']);

  const port = Number(new URL(server.url).port);
  await assert.rejects(
    createFerryServer({ dir: folder.dir, port }),
    (error: unknown) =>
      error instanceof InvalidOptionError &&
      error.option === 'port' &&
      error.message.includes(`Port ${port}`) &&
      error.message.includes('already in use'),
  );
  await assert.rejects(createFerryServer({ dir: folder.dir, port: 70000 }), InvalidOptionError);

  // A keep-alive connection left open must not keep close() waiting.
  const agent = new Agent({ keepAlive: true });
  await new Promise<void>((resolve, reject) => {
    get(`${server.url}remoteEntry.js`, { agent }, (res) => res.resume().on('end', resolve)).on('error', reject);
  });
  const started = Date.now();
  await server.close();
  assert.ok(Date.now() - started < 900, 'close() waited for an idle connection');
  agent.destroy();
});

test('the container named by the manifest is revalidated even when its name looks hashed', async () => {
  const folder = await createServedFolder();
  await using _project = folder.project;
  const container = 'remoteEntry.ZXCVBNM2.js';
  const files = {
    [container]: 'exports.get = () => {};\n',
    [HASHED_FILE]: folder.files[HASHED_FILE]!,
    [HASHED_MAP]: folder.files[HASHED_MAP]!,
  };
  const manifest = manifestFor(files);
  manifest.ferry.remoteEntry = container;
  await writeFile(join(folder.dir, container), files[container]);
  await writeFile(join(folder.dir, 'mf-manifest.json'), JSON.stringify(manifest));
  const server = await createFerryServer({ dir: folder.dir, port: 0 });
  try {
    const cacheControl = async (name: string) => (await rawRequest(server.url, `/${name}`)).headers['cache-control'];
    assert.equal(await cacheControl(container), 'no-cache');
    assert.equal(await cacheControl(HASHED_FILE), 'public, max-age=31536000, immutable');

    // Without a readable manifest nothing is called immutable: that is always safe.
    await writeFile(join(folder.dir, 'mf-manifest.json'), '{"not": "a manifest"}');
    assert.equal(await cacheControl(HASHED_FILE), 'no-cache');
  } finally {
    await server.close();
  }
});

test('a switched `current` symlink is followed for the container names: the same name revalidated in one build, immutable in the next', async () => {
  const folder = await createServedFolder();
  await using _project = folder.project;
  const name = 'remoteEntry.ZXCVBNM2.js';
  const release = async (release: string, container: boolean) => {
    const dir = join(folder.project.dir, 'releases', release);
    await mkdir(dir, { recursive: true });
    const files: Record<string, string> = {
      [name]: 'exports.get = () => {};\n',
      [HASHED_FILE]: folder.files[HASHED_FILE]!,
      [HASHED_MAP]: folder.files[HASHED_MAP]!,
    };
    if (!container) files['remoteEntry.js'] = 'exports.get = () => {};\n';
    const manifest = manifestFor(files);
    if (container) manifest.ferry.remoteEntry = name;
    for (const [file, text] of Object.entries(files)) await writeFile(join(dir, file), text);
    await writeFile(join(dir, 'mf-manifest.json'), JSON.stringify(manifest));
    return dir;
  };
  const current = join(folder.project.dir, 'current');
  await symlink(await release('1', true), current);
  const second = await release('2', false);
  const server = await createFerryServer({ dir: current, port: 0 });
  try {
    const cacheControl = async (file: string) => (await rawRequest(server.url, `/${file}`)).headers['cache-control'];
    assert.equal(await cacheControl(name), 'no-cache');
    assert.equal(await cacheControl(name), 'no-cache', 'asked again: the names remembered for that manifest');
    await symlink(second, `${current}.next`);
    await rename(`${current}.next`, current);
    assert.equal(await cacheControl(name), 'public, max-age=31536000, immutable');
    assert.equal(await cacheControl('remoteEntry.js'), 'no-cache');
  } finally {
    await server.close();
  }
});

test('a build in the current layout: the hashed container and signature copies are immutable, remoteEntry.js is revalidated', async () => {
  const folder = await createServedFolder();
  await using _project = folder.project;
  const code = folder.files['remoteEntry.js']!;
  const container = containerFileFor('remoteEntry.js', Buffer.from(code));
  const files = {
    [container]: code,
    [HASHED_FILE]: folder.files[HASHED_FILE]!,
    [HASHED_MAP]: folder.files[HASHED_MAP]!,
  };
  const manifest = manifestFor(files);
  manifest.ferry.remoteEntry = container;
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const copy = signatureFileFor(manifestBytes);
  await writeFile(join(folder.dir, container), code);
  await writeFile(join(folder.dir, copy), '{}\n');
  await writeFile(join(folder.dir, 'mf-manifest.json'), manifestBytes);
  const server = await createFerryServer({ dir: folder.dir, port: 0 });
  try {
    const cacheControl = async (name: string) => (await rawRequest(server.url, `/${name}`)).headers['cache-control'];
    assert.equal(await cacheControl(container), 'public, max-age=31536000, immutable');
    assert.equal(await cacheControl(copy), 'public, max-age=31536000, immutable');
    assert.equal(await cacheControl('remoteEntry.js'), 'no-cache');
    assert.equal(await cacheControl('mf-manifest.json.sig'), 'no-cache');
    // A configured filename that looks hashed is still a fixed name, rewritten by every build.
    manifest.metaData.remoteEntry.name = 'remoteEntry.0123456789.js';
    await writeFile(join(folder.dir, 'mf-manifest.json'), JSON.stringify(manifest));
    await writeFile(join(folder.dir, 'remoteEntry.0123456789.js'), code);
    assert.equal(await cacheControl('remoteEntry.0123456789.js'), 'no-cache');
    assert.equal(await cacheControl(container), 'no-cache', 'not the content-addressed form of that name');
  } finally {
    await server.close();
  }
});
