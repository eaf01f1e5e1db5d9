/**
 * `ferry build --watch` (the real CLI in a child process): builds, rebuilds after a source change, keeps the last
 * good output through a syntax error and builds again once it is fixed, and stops on SIGINT; its own output never
 * starts a build.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { createRemoteProject } from './helpers/build-fixture.ts';
import { FERRY_BIN } from './helpers/temp-project.ts';

interface Manifest {
  ferry: { release: number; exposes: Record<string, { file: string }> };
}

test('ferry build --watch rebuilds on change, survives a failing build, and stops on SIGINT', async () => {
  await using project = await createRemoteProject({
    'ferry.config.ts': `export default { name: 'authService', exposes: { './other': './src/other.ts' }, dts: false };\n`,
  });
  const env = { ...process.env };
  delete env.FERRY_SIGNING_KEY;
  const child = spawn(process.execPath, [FERRY_BIN, 'build', '--watch'], { cwd: project.dir, env });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  /** Waits until `pattern` has matched `count` times in stdout. */
  const waitFor = async (pattern: RegExp, count: number) => {
    const deadline = Date.now() + 20_000;
    while ((stdout.match(new RegExp(pattern, 'g')) ?? []).length < count) {
      assert.ok(
        Date.now() < deadline,
        `timed out waiting for ${pattern} x${count}\nstdout:\n${stdout}\nstderr:\n${stderr}`,
      );
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };
  const manifest = async () =>
    JSON.parse(await readFile(project.path('dist/federation/mf-manifest.json'), 'utf8')) as Manifest;
  const exposed = async () =>
    readFile(project.path('dist/federation', (await manifest()).ferry.exposes['./other']!.file), 'utf8');
  try {
    await waitFor(/built in \d+ ms/, 1);
    assert.match(await exposed(), /answer = 42/);
    const first = await manifest();
    // The build's own writes (bundles, the release record in releases/) never start another build: once a quiet
    // moment has passed, still one build.
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal((stdout.match(/building/g) ?? []).length, 1, stdout);

    await project.write('src/other.ts', 'export const answer: number = 43;\n');
    await waitFor(/built in \d+ ms/, 2);
    assert.match(stdout, /changed: src\/other\.ts; building/);
    assert.match(await exposed(), /answer = 43/);
    assert.ok((await manifest()).ferry.release > first.ferry.release, 'a new release for hosts to accept');

    const good = await readFile(project.path('dist/federation/mf-manifest.json'), 'utf8');
    await project.write('src/other.ts', 'export const answer: number = ;\n');
    await waitFor(/build failed; the last good output is unchanged/, 1);
    assert.match(stderr, /ferry build: .*other\.ts/s, 'the error names the file');
    assert.equal(await readFile(project.path('dist/federation/mf-manifest.json'), 'utf8'), good);
    assert.match(await exposed(), /answer = 43/, 'the last good build is still served');

    await project.write('src/other.ts', 'export const answer: number = 44;\n');
    await waitFor(/built in \d+ ms/, 3);
    assert.match(await exposed(), /answer = 44/);
    assert.equal(child.exitCode, null, 'still watching');
  } finally {
    child.kill('SIGINT');
  }
  assert.equal(await exited, 0, stderr);
  assert.match(stdout, /ferry build --watch: stopped/);
  assert.doesNotMatch(stdout, /changed: dist\//, 'a change in the output folder never starts a build');
});
