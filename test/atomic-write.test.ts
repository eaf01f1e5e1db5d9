/**
 * writeFileAtomic (src/common/atomic-write.ts), on real files: concurrent writers of one path end with one complete
 * file, a failed write leaves no temporary file and the old file intact, and the options (mode, parent folder, fsync,
 * `started`) do what they say.
 */
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { isAtomicTemporary, writeFileAtomic } from '../src/common/atomic-write.ts';
import { createTempProject } from './helpers/temp-project.ts';

test('concurrent writers of one path: the file is exactly one of them, complete, and no temporary file is left', async () => {
  await using dir = await createTempProject({});
  const target = dir.path('record.json');
  // Large enough that the writes interleave on the thread pool; each writer's bytes are recognisable throughout.
  const payloads = Array.from({ length: 24 }, (_, i) => Buffer.alloc(256 * 1024 + i, String.fromCharCode(65 + i)));
  for (let round = 0; round < 5; round++) {
    await Promise.all(payloads.map((bytes) => writeFileAtomic(target, bytes)));
    const written = await readFile(target);
    assert.ok(
      payloads.some((bytes) => bytes.equals(written)),
      `round ${round}: the file is one writer's complete bytes (${written.byteLength} bytes, starts with ${written[0]})`,
    );
  }
  assert.deepEqual(await readdir(dir.dir), ['record.json'], 'only the target is in the folder');
});

test('a write that fails part way leaves no temporary file and the old file as it was', async () => {
  await using dir = await createTempProject({ 'state.json': '{"old":true}\n' });
  const target = dir.path('state.json');
  async function* failing() {
    yield Buffer.from('{"new":');
    throw new Error('the source broke');
  }
  await assert.rejects(writeFileAtomic(target, failing(), { flush: true }), /the source broke/);
  assert.equal(await readFile(target, 'utf8'), '{"old":true}\n', 'the old file is intact');
  assert.deepEqual(await readdir(dir.dir), ['state.json'], 'the temporary file was removed');
});

test('a rename that fails (a folder in the way) throws its own error and removes the temporary file', async () => {
  await using dir = await createTempProject({ 'taken/keep.txt': 'x' });
  const error = await writeFileAtomic(dir.path('taken'), 'bytes').catch((e: unknown) => e);
  assert.ok(
    error instanceof Error && ['EISDIR', 'ENOTEMPTY', 'EEXIST'].includes(String((error as { code?: string }).code)),
  );
  assert.deepEqual((await readdir(dir.dir)).sort(), ['taken']);
  assert.equal(await readFile(dir.path('taken', 'keep.txt'), 'utf8'), 'x');
});

test('options: the file mode, creating the parent folder (with its mode), and a missing parent without it', async () => {
  await using dir = await createTempProject({});
  const nested = dir.path('a', 'b', 'file.bin');
  await assert.rejects(writeFileAtomic(nested, 'x'), { code: 'ENOENT' });
  await writeFileAtomic(nested, new Uint8Array([1, 2, 3]), {
    mode: 0o600,
    createParent: true,
    parentMode: 0o700,
    flush: true,
  });
  assert.deepEqual([...(await readFile(nested))], [1, 2, 3]);
  assert.equal((await stat(nested)).mode & 0o777, 0o600);
  assert.equal((await stat(dir.path('a', 'b'))).mode & 0o777, 0o700);
  // An existing file is replaced, whatever its mode was.
  await writeFile(dir.path('plain.txt'), 'old', { mode: 0o644 });
  await writeFileAtomic(dir.path('plain.txt'), 'new', { mode: 0o600 });
  assert.equal(await readFile(dir.path('plain.txt'), 'utf8'), 'new');
  assert.equal((await stat(dir.path('plain.txt'))).mode & 0o777, 0o600);
});

test('createParent makes a missing folder for bytes, text and a stream (which cannot be written twice)', async () => {
  await using dir = await createTempProject({});
  await writeFileAtomic(dir.path('x', 'bytes.bin'), new Uint8Array([7]), { createParent: true });
  await writeFileAtomic(dir.path('y', 'z', 'text.txt'), 'text', { createParent: true });
  async function* chunks() {
    yield Buffer.from('str');
    yield Buffer.from('eam');
  }
  await writeFileAtomic(dir.path('s', 'stream.txt'), chunks(), { createParent: true });
  assert.deepEqual([...(await readFile(dir.path('x', 'bytes.bin')))], [7]);
  assert.equal(await readFile(dir.path('y', 'z', 'text.txt'), 'utf8'), 'text');
  assert.equal(await readFile(dir.path('s', 'stream.txt'), 'utf8'), 'stream');
  for (const folder of ['x', 'y/z', 's']) assert.equal((await readdir(dir.path(folder))).length, 1, folder);
});

test('isAtomicTemporary recognises the temporary names, and only them', async () => {
  await using dir = await createTempProject({});
  await mkdir(dir.path('x'));
  let seen: string[] = [];
  // Catch a temporary name in the act: a slow source keeps the write open while the folder is listed.
  async function* slow() {
    yield Buffer.from('a');
    seen = await readdir(dir.path('x'));
    yield Buffer.from('b');
  }
  await writeFileAtomic(join(dir.path('x'), 'entry.js'), slow());
  assert.equal(seen.length, 1);
  assert.ok(isAtomicTemporary(seen[0]!), `${seen[0]} is a temporary name`);
  assert.ok(seen[0]!.startsWith('.entry.js.'), 'hidden, and named after its target');
  for (const name of ['entry.js', 'releases.json', '.hidden', 'a.tmp', '.a.1.xyz.tmp']) {
    assert.ok(!isAtomicTemporary(name), name);
  }
});

test('started: bytes go to the thread pool in one write, which finishes while the main thread is kept busy', async () => {
  await using dir = await createTempProject({});
  const bytes = Buffer.alloc(8 * 1024 * 1024 + 17, 'a');
  let calls = 0;
  let wholeWhileBusy = false;
  await writeFileAtomic(dir.path('big.bin'), bytes, {
    started: () => {
      calls++;
      // Busy, as a compile would keep it: the temporary file must still fill up (not stop at a first piece).
      const deadline = Date.now() + 10_000;
      while (!wholeWhileBusy && Date.now() < deadline) {
        const temporary = readdirSync(dir.dir).find(isAtomicTemporary);
        wholeWhileBusy = temporary !== undefined && statSync(join(dir.dir, temporary)).size === bytes.byteLength;
      }
    },
  });
  assert.equal(calls, 1);
  assert.ok(wholeWhileBusy, 'the whole file was written while the main thread was busy');
  assert.ok((await readFile(dir.path('big.bin'))).equals(bytes));
});

test('started: once for text, a DataView and a write made again into a missing folder; never for a write that fails first', async () => {
  await using dir = await createTempProject({});
  const calls: string[] = [];
  await writeFileAtomic(dir.path('text.txt'), 'zażółć\n', { started: () => calls.push('text') });
  const view = new DataView(new Uint8Array([9, 8, 7, 6]).buffer, 1, 2);
  await writeFileAtomic(dir.path('view.bin'), view, { started: () => calls.push('view') });
  await writeFileAtomic(dir.path('new', 'again.txt'), 'x', { createParent: true, started: () => calls.push('again') });
  await assert.rejects(writeFileAtomic(dir.path('missing', 'file.txt'), 'x', { started: () => calls.push('failed') }), {
    code: 'ENOENT',
  });
  assert.deepEqual(calls, ['text', 'view', 'again']);
  assert.equal(await readFile(dir.path('text.txt'), 'utf8'), 'zażółć\n');
  assert.deepEqual([...(await readFile(dir.path('view.bin')))], [8, 7]);
  assert.equal(await readFile(dir.path('new', 'again.txt'), 'utf8'), 'x');
  assert.deepEqual((await readdir(dir.dir)).sort(), ['new', 'text.txt', 'view.bin']);
});
