/**
 * `ferry serve` as users run it: a real child process of bin/ferry.js (run `npm run build` first), its one
 * "serving" line parsed for the URL, files fetched, then stopped with SIGTERM/SIGINT; plus a busy port, a missing
 * folder and bad arguments.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { subscribe } from './helpers/event-client.ts';
import { createServedFolder, HASHED_FILE } from './helpers/server-fixture.ts';
import { FERRY_BIN } from './helpers/temp-project.ts';

interface Running {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exit: Promise<number | null>;
}

function startFerry(args: string[], env: Record<string, string> = {}): Running {
  const child = spawn(process.execPath, [FERRY_BIN, ...args], {
    env: { ...process.env, PORT: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
  });
  const exit = once(child, 'exit').then(([code]) => code as number | null);
  return { child, stdout: () => out, stderr: () => err, exit };
}

/** Waits for the "serving" line and returns the URL it names. */
async function servingUrl(running: Running, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const match = /^ferry serve: serving .+ at (http:\/\/\S+\/)$/m.exec(running.stdout());
    if (match) return match[1]!;
    if (running.child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  running.child.kill('SIGKILL');
  throw new Error(`ferry serve did not start. stdout: ${running.stdout()} stderr: ${running.stderr()}`);
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`ferry serve prints its URL once, serves the folder, and exits 0 on ${signal}`, async () => {
    const folder = await createServedFolder();
    await using _project = folder.project;
    const running = startFerry(['serve', folder.dir, '--port', '0']);
    const url = await servingUrl(running);
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);

    const manifest = await fetch(`${url}mf-manifest.json`);
    assert.equal(manifest.status, 200);
    assert.equal(manifest.headers.get('cache-control'), 'no-cache');
    assert.equal(await manifest.text(), folder.files['mf-manifest.json']);
    const hashed = await fetch(`${url}${HASHED_FILE}`);
    assert.equal(hashed.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    await hashed.arrayBuffer();

    running.child.kill(signal);
    assert.equal(await running.exit, 0);
    // One line, and no per-request logging by default.
    assert.equal(running.stdout(), `ferry serve: serving ${folder.dir} at ${url}\n`);
    assert.equal(running.stderr(), '');
  });
}

test('ferry serve --log prints one line per request; PORT is used when --port is absent', async () => {
  const folder = await createServedFolder();
  await using _project = folder.project;
  const running = startFerry(['serve', folder.dir, '--log'], { PORT: '0' });
  const url = await servingUrl(running);
  await (await fetch(`${url}mf-manifest.json`)).text();
  await (await fetch(`${url}missing.js`)).text();
  running.child.kill('SIGTERM');
  assert.equal(await running.exit, 0);
  assert.match(running.stdout(), /^GET \/mf-manifest\.json 200 [\d.]+ms$/m);
  assert.match(running.stdout(), /^GET \/missing\.js 404 [\d.]+ms$/m);
});

test('ferry serve on a busy port names the port and exits 1', async () => {
  const folder = await createServedFolder();
  await using _project = folder.project;
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const { port } = blocker.address() as { port: number };
  try {
    const running = startFerry(['serve', folder.dir, '--port', String(port)]);
    assert.equal(await running.exit, 1);
    assert.match(running.stderr(), new RegExp(`Port ${port} on 127\\.0\\.0\\.1 is already in use`));
    assert.match(running.stderr(), /ERR_FERRY_INVALID_OPTION/);
    assert.equal(running.stdout(), '');
  } finally {
    blocker.close();
  }
});

test('ferry serve with a missing folder names it, says to run ferry build, and exits non-zero', async () => {
  const folder = await createServedFolder();
  await using _project = folder.project;
  const missing = folder.project.path('no-such-folder');
  const running = startFerry(['serve', missing, '--port', '0']);
  assert.notEqual(await running.exit, 0);
  assert.ok(running.stderr().includes(missing), running.stderr());
  assert.match(running.stderr(), /ferry build/);
});

test('ferry serve refuses a bad port, an unknown flag and two folders, and prints help', async () => {
  const badPort = startFerry(['serve', '.', '--port', 'eighty']);
  assert.equal(await badPort.exit, 1);
  assert.match(badPort.stderr(), /--port must be a port number from 0 to 65535 .*got "eighty"/);

  const badEnv = startFerry(['serve', '.'], { PORT: '99999' });
  assert.equal(await badEnv.exit, 1);
  assert.match(badEnv.stderr(), /PORT environment variable must be a port number/);

  const unknown = startFerry(['serve', '--porrt', '1']);
  assert.equal(await unknown.exit, 2);
  assert.match(unknown.stderr(), /porrt/);

  const two = startFerry(['serve', 'a', 'b']);
  assert.equal(await two.exit, 2);
  assert.match(two.stderr(), /at most one folder/);

  const help = startFerry(['serve', '--help']);
  assert.equal(await help.exit, 0);
  assert.match(help.stdout(), /Usage: ferry serve \[dir\]/);
});

test('ferry serve takes the limits as flags: --max-subscribers caps the event stream, bad values are refused', async () => {
  const folder = await createServedFolder();
  await using _project = folder.project;
  const bad = startFerry(['serve', folder.dir, '--port', '0', '--max-subscribers', 'many']);
  assert.equal(await bad.exit, 1);
  assert.match(bad.stderr(), /--max-subscribers must be a whole number of subscribers of at least 1, got "many"/);

  const running = startFerry([
    'serve',
    folder.dir,
    '--port',
    '0',
    '--max-subscribers',
    '1',
    '--max-connections',
    '50',
    '--stream-lifetime',
    '60000',
  ]);
  const url = await servingUrl(running);
  try {
    const first = await subscribe(`${url}mf-manifest.events`);
    assert.equal(first.status, 200);
    const second = await subscribe(`${url}mf-manifest.events`);
    assert.equal(second.status, 503);
    assert.equal(second.headers['retry-after'], '60');
    first.close();
  } finally {
    running.child.kill('SIGTERM');
    await running.exit;
  }
});
