/**
 * The leak soak in short (bench/soak.ts runs 500 versions): 60 successive versions of a remote that allocates, sets
 * an interval and adds a process listener, in a child process with a 64 MB heap; heap after GC must not grow by 5 MB.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from './helpers/temp-project.ts';

for (const format of ['esm', 'commonjs']) {
  test(`60 successive versions (${format}) leave the heap flat under --max-old-space-size=64`, () => {
    const soak = join(REPO_ROOT, 'bench', 'soak.ts');
    const result = spawnSync(
      process.execPath,
      ['--expose-gc', '--max-old-space-size=64', soak, '--versions', '60', '--format', format],
      { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 },
    );
    assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
    const report = JSON.parse(result.stdout.trim().split('\n').at(-1)!) as {
      format: string;
      heapAfterGcMiB: { growth: number };
    };
    assert.equal(report.format, format);
    assert.ok(report.heapAfterGcMiB.growth < 5, result.stdout);
  });
}
