/**
 * readRegularFile (src/runtime/cache/regular-file.ts) on real files: a file of any size is read whole and unchanged,
 * on both sides of the size up to which it is read synchronously, and whatever else sits under a cache entry's name
 * (a FIFO, a symlink, a folder, a file larger than expected, nothing) is refused with the error the callers rely on,
 * at once: nothing waits for a FIFO's writer.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  NotARegularFile,
  readRegularFile,
  readRegularFileSync,
  SYNC_IO_BYTES,
} from '../src/runtime/cache/regular-file.ts';
import { createTempProject } from './helpers/temp-project.ts';

test('a regular file is read whole, below, at and above the size read synchronously', async () => {
  await using project = await createTempProject({});
  for (const size of [0, 1, SYNC_IO_BYTES - 1, SYNC_IO_BYTES, SYNC_IO_BYTES + 1, 3 * 1024 * 1024 + 7]) {
    const bytes = randomBytes(size);
    const path = join(project.dir, `file-${size}`);
    await writeFile(path, bytes);
    assert.deepEqual(await readRegularFile(path, size), bytes, `async read of ${size} bytes`);
    assert.deepEqual(readRegularFileSync(path, size), bytes, `sync read of ${size} bytes`);
  }
});

test('anything but a regular file of at most the expected size is refused at once, with the code callers use', async () => {
  await using project = await createTempProject({});
  const big = join(project.dir, 'big');
  await writeFile(big, randomBytes(SYNC_IO_BYTES + 10));
  await assert.rejects(readRegularFile(big, SYNC_IO_BYTES), NotARegularFile);
  await assert.rejects(readRegularFile(big, 100), NotARegularFile);
  assert.throws(() => readRegularFileSync(big, 100), NotARegularFile);

  const fifo = join(project.dir, 'fifo');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
  await assert.rejects(readRegularFile(fifo, 1 << 20), NotARegularFile);

  const link = join(project.dir, 'link');
  await symlink(big, link);
  await assert.rejects(readRegularFile(link, 1 << 30), { code: 'ELOOP' });

  const folder = join(project.dir, 'folder');
  await mkdir(folder);
  await assert.rejects(readRegularFile(folder, 1 << 20), { name: 'NotARegularFile', code: 'EISDIR' });

  await assert.rejects(readRegularFile(join(project.dir, 'absent'), 1 << 20), { code: 'ENOENT' });
});
