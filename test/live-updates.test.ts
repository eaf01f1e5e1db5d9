/**
 * Live updates: a new build of a remote is detected (host.update(), polling, server-sent events), verified,
 * initialised and swapped in; calls in flight finish on their version; refused versions never become current; the old
 * version is disposed (its timers and listeners cleared, nothing ferry holds keeps it alive); remotes are added,
 * re-pointed and removed at run time.
 */
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  createHost,
  type HostOptions,
  IncompatibleVersionError,
  IntegrityError,
  UnknownRemoteError,
  type UpdateMessage,
  UpdateRefusedError,
} from '../src/index.ts';
import { createFerryServer } from '../src/server/index.ts';
import { startLoopback } from './helpers/loopback.ts';
import { writeRemoteOutput } from './helpers/remote-output.ts';
import { createTempProject, type TempProject } from './helpers/temp-project.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const cacheDir = mkdtempSync(join(tmpdir(), 'ferry-live-cache-'));
after(() => rmSync(cacheDir, { recursive: true, force: true }));

const globals = globalThis as unknown as Record<string, number | undefined>;
let seq = 0;

/** A version of the remote: reports its tag, ticks an interval, listens on process, allocates, can run slowly. */
function code(tag: string, extra = ''): string {
  return `'use strict';
const tag = ${JSON.stringify(tag)};
const ballast = new Array(20000).fill(tag);
setInterval(() => { globalThis[${JSON.stringify(`__ticks_${tag}`)}] = (globalThis[${JSON.stringify(`__ticks_${tag}`)}] || 0) + 1; }, 5);
process.on('ferry-live-test', () => ballast.length);
exports.tag = () => tag;
exports.version = tag;
exports.slow = (ms) => new Promise((resolve) => setTimeout(() => resolve(tag), ms));
${extra}
`;
}

async function publish(dir: string, tag: string, options: { version?: string; release: number; extra?: string }) {
  await writeRemoteOutput(dir, {
    name: 'authService',
    version: options.version ?? '1.0.0',
    release: options.release,
    exposes: { './validator': { code: code(tag, options.extra) } },
  });
}

async function remoteFolder(): Promise<TempProject> {
  return createTempProject({});
}

function hostFor(url: string, extra: Partial<HostOptions> = {}) {
  const events: UpdateMessage[] = [];
  const host = createHost({
    name: 'userService',
    remotes: { authService: { url: `${url}mf-manifest.json`, versionRange: '^1' } },
    onWarning: () => {},
    ...extra,
    cache: { dir: cacheDir, ...extra.cache },
    live: {
      pollInterval: false,
      push: false,
      drainTimeout: 2000,
      onUpdate: (event) => events.push(event),
      ...extra.live,
    },
  });
  return { host, events };
}

type Validator = { tag(): string; version: string; slow(ms: number): Promise<string> };

test('host.update() swaps in a new version; import and live bindings get it; calls in flight finish on theirs; the old one is disposed', async () => {
  await using project = await remoteFolder();
  const v1 = `a${seq++}`;
  const v2 = `b${seq++}`;
  await publish(project.dir, v1, { release: 1 });
  await using server = await startLoopback(project.dir);
  const { host, events } = hostFor(server.url);
  after(() => host.close());
  const live = await host.live<Validator>('authService/validator');
  assert.equal(live.tag(), v1);
  const forwarder = live.tag;
  const inFlight = live.slow(300);
  const listenersBefore = process.listenerCount('ferry-live-test');

  await publish(project.dir, v2, { release: 2 });
  const [outcome] = await host.update();
  assert.equal(outcome?.status, 'activated');
  assert.equal((await host.import<Validator>('authService/validator')).tag(), v2);
  assert.equal(live.tag(), v2, 'the live binding calls the new version');
  assert.equal(forwarder(), v2, 'a function read before the swap forwards to the new version');
  assert.equal(live.version, v2);
  assert.equal(await inFlight, v1, 'the call in progress finished on its own version');
  assert.deepEqual(
    events.map((e) => e.type),
    ['check', 'found', 'activated'],
  );

  // Disposal: after the drain, the old version's interval stops and its process listener is gone.
  await waitFor(() => events.some((e) => e.type === 'disposed'));
  const ticks = globals[`__ticks_${v1}`];
  await sleep(60);
  assert.equal(globals[`__ticks_${v1}`], ticks, 'the old interval was cleared');
  assert.ok((globals[`__ticks_${v2}`] ?? 0) > 0, 'the new version runs');
  assert.equal(process.listenerCount('ferry-live-test'), listenersBefore, "v1's listener went, v2's came");

  // Unchanged manifest: nothing happens.
  const [again] = await host.update('authService');
  assert.equal(again?.status, 'unchanged');
  await host.close();
  assert.equal(process.listenerCount('ferry-live-test'), listenersBefore - 1, 'close() disposes the current version');
});

test('nothing ferry holds keeps a replaced version alive (WeakRef + gc)', async () => {
  await using project = await remoteFolder();
  await publish(project.dir, `c${seq++}`, { release: 1 });
  await using server = await startLoopback(project.dir);
  const { host, events } = hostFor(server.url, { live: { drainTimeout: 0 } });
  const ref = new WeakRef((await host.import('authService/validator')) as object);
  await publish(project.dir, `d${seq++}`, { release: 2 });
  assert.equal((await host.update())[0]?.status, 'activated');
  await waitFor(() => events.some((e) => e.type === 'disposed'));
  for (let i = 0; i < 10 && ref.deref() !== undefined; i++) {
    await sleep(20);
    gc();
  }
  assert.equal(ref.deref(), undefined, 'the old exports were collected');
  await host.close();
});

test('refusals leave the current version serving: out of range, failed verification, throwing initialisation, failed health check', async (t) => {
  await using project = await remoteFolder();
  const v1 = `e${seq++}`;
  await publish(project.dir, v1, { release: 1 });
  await using server = await startLoopback(project.dir);
  let healthy = true;
  const { host, events } = hostFor(server.url, {
    live: {
      healthCheck: async (candidate) => {
        const module = (await candidate.import('./validator')) as Validator;
        return healthy && module.tag() !== 'unhealthy';
      },
    },
  });
  // Closed even when an assertion fails, so a failure cannot keep the test file's process alive.
  t.after(() => host.close());
  assert.equal((await host.import<Validator>('authService/validator')).tag(), v1);
  const refusedBy = async (reason: string, ErrorClass?: new (...args: never[]) => Error, transient = false) => {
    const [outcome] = await host.update('authService');
    // A file that does not match (or cannot be fetched) may be a deployment in progress: tried again, not remembered.
    assert.equal(outcome?.status, transient ? 'failed' : 'refused', reason);
    const event = events.findLast((e) => e.type === 'refused');
    assert.equal(event?.reason, reason);
    assert.equal(event?.retry, transient ? true : undefined, `${reason}: retry`);
    if (ErrorClass) assert.ok(event?.error instanceof ErrorClass, `${reason}: ${event?.error}`);
    assert.equal((await host.import<Validator>('authService/validator')).tag(), v1, `${reason}: v1 still serves`);
    assert.equal(host.loadedVersion('authService'), '1.0.0');
  };

  await publish(project.dir, 'major', { version: '2.0.0', release: 2 });
  await refusedBy('version-range', IncompatibleVersionError);

  // A file that does not match its manifest (same name, other bytes).
  const { manifest } = await publish2(project.dir, 'tampered', 4);
  await writeFile(join(project.dir, manifest.ferry.exposes['./validator']!.file), code('tampereX'));
  await refusedBy('verification', IntegrityError, true);

  await publish(project.dir, 'throws', { release: 5, extra: "throw new Error('boom at init');" });
  await refusedBy('initialisation');

  await publish(project.dir, 'unhealthy', { release: 6 });
  await refusedBy('health-check', UpdateRefusedError);
  // The same refused build is not tried again; a fixed one is.
  const checks = events.length;
  assert.equal((await host.update())[0]?.status, 'refused');
  assert.equal(
    events.filter((e) => e.type === 'found').length,
    events.slice(0, checks).filter((e) => e.type === 'found').length,
  );
  healthy = true;
  await publish(project.dir, `f${seq++}`, { release: 7 });
  assert.equal((await host.update())[0]?.status, 'activated');
  await host.close();
});

test('a deployment caught half-way (a file still missing) is tried again on its own and goes live once complete', async () => {
  await using project = await remoteFolder();
  await publish(project.dir, `r${seq++}`, { release: 1 });
  await using server = await startLoopback(project.dir);
  const { host, events } = hostFor(server.url);
  const first = await host.import<Validator>('authService/validator');
  const v2 = `s${seq++}`;
  const { manifest } = await publish2(project.dir, v2, 2);
  // The new manifest is served, but its expose file has not been copied yet.
  const missing = manifest.ferry.exposes['./validator']!.file;
  server.override = (req, res) => {
    if (!req.url?.endsWith(missing)) return false;
    res.writeHead(404).end('not yet');
    return true;
  };
  const [outcome] = await host.update('authService');
  assert.equal(outcome?.status, 'failed');
  const refused = events.findLast((e) => e.type === 'refused');
  assert.equal(refused?.retry, true);
  assert.equal((await host.import<Validator>('authService/validator')).tag(), first.tag(), 'the old one serves');

  server.override = undefined; // the copy finishes; no poll, no push: the retry picks it up
  await waitFor(() => host.loadedVersion('authService') !== undefined && events.some((e) => e.type === 'activated'));
  assert.equal((await host.import<Validator>('authService/validator')).tag(), v2);
  assert.equal(events.find((e) => e.type === 'check' && e.trigger === 'retry')?.remote, 'authService');
  await host.close();
});

async function publish2(dir: string, tag: string, release: number) {
  return writeRemoteOutput(dir, {
    name: 'authService',
    version: '1.0.0',
    release,
    exposes: { './validator': { code: code(tag) } },
  });
}

test('push: ferry/server announces a new manifest over mf-manifest.events and the host swaps it in', async () => {
  await using project = await remoteFolder();
  await publish(project.dir, `g${seq++}`, { release: 1 });
  const server = await createFerryServer({ dir: project.dir, port: 0 });
  try {
    const { host, events } = hostFor(server.url, { live: { push: true, pollInterval: false } });
    const live = await host.live<Validator>('authService/validator');
    await sleep(300); // the subscription connects
    const v2 = `h${seq++}`;
    const published = performance.now();
    await publish(project.dir, v2, { release: 2 });
    await waitFor(() => live.tag() === v2, 5000);
    assert.ok(performance.now() - published < 5000);
    assert.equal(events.find((e) => e.type === 'check')?.trigger, 'push');
    await host.close();
  } finally {
    await server.close();
  }
});

test('polling: without a push channel the host polls with conditional requests', async () => {
  await using project = await remoteFolder();
  await publish(project.dir, `i${seq++}`, { release: 1 });
  await using server = await startLoopback(project.dir);
  const { host, events } = hostFor(server.url, { live: { push: true, pollInterval: 100 } });
  const live = await host.live<Validator>('authService/validator');
  const v2 = `j${seq++}`;
  await publish(project.dir, v2, { release: 2 });
  await waitFor(() => live.tag() === v2, 5000);
  assert.ok(server.requests.includes('/mf-manifest.events'), 'it tried the push channel first');
  assert.equal(events.find((e) => e.type === 'check')?.trigger, 'poll');
  await host.close();
});

test('dynamic remotes: add, point at another deployment, remove; events go to diagnostics_channel too', async () => {
  await using blue = await remoteFolder();
  await using green = await remoteFolder();
  const vBlue = `k${seq++}`;
  const vGreen = `l${seq++}`;
  await publish(blue.dir, vBlue, { release: 1 });
  await publish(green.dir, vGreen, { release: 1 });
  await using blueServer = await startLoopback(blue.dir);
  await using greenServer = await startLoopback(green.dir);
  const published: UpdateMessage[] = [];
  const onMessage = (message: unknown) => published.push(message as UpdateMessage);
  diagnosticsChannel.subscribe('ferry:update:activated', onMessage);
  try {
    const host = createHost({
      name: 'userService',
      remotes: {},
      cache: { dir: cacheDir },
      live: { pollInterval: false, push: false },
      onWarning: () => {},
    });
    await assert.rejects(host.import('authService/validator'), UnknownRemoteError);
    await host.addRemote('authService', `${blueServer.url}mf-manifest.json`);
    const live = await host.live<Validator>('authService/validator');
    assert.equal(live.tag(), vBlue);
    const outcome = await host.pointRemote('authService', { url: `${greenServer.url}mf-manifest.json` });
    assert.equal(outcome.status, 'activated');
    assert.equal(live.tag(), vGreen);
    // A deployment that does not verify is refused and the remote keeps its URL.
    await using broken = await remoteFolder();
    await publish(broken.dir, 'broken', { release: 1 });
    await writeFile(join(broken.dir, 'mf-manifest.json'), '{"not":"a manifest"}');
    await using brokenServer = await startLoopback(broken.dir);
    await assert.rejects(host.pointRemote('authService', `${brokenServer.url}mf-manifest.json`));
    assert.equal(live.tag(), vGreen);
    await host.removeRemote('authService');
    await assert.rejects(host.import('authService/validator'), UnknownRemoteError);
    assert.deepEqual(
      published.filter((m) => m.host === 'userService').map((m) => m.trigger),
      ['add', 'point'],
    );
    await host.close();
  } finally {
    diagnosticsChannel.unsubscribe('ferry:update:activated', onMessage);
  }
});

test('the version range is checked at the first load too, and bad live options are typed errors', async () => {
  await using project = await remoteFolder();
  await publish(project.dir, 'two', { version: '2.1.0', release: 1 });
  await using server = await startLoopback(project.dir);
  const { host } = hostFor(server.url);
  await assert.rejects(host.import('authService/validator'), IncompatibleVersionError);
  await host.close();
  assert.throws(
    () => createHost({ name: 'h', remotes: { a: { url: 'http://127.0.0.1:1/', versionRange: 'not a range' } } }),
    /remotes\.a\.versionRange must be a semver range/,
  );
  assert.throws(() => createHost({ name: 'h', remotes: {}, live: { pollInterval: 1 } }), /live\.pollInterval/);
  assert.throws(
    () =>
      createHost({
        name: 'h',
        remotes: { a: { url: 'http://127.0.0.1:1/', uses: 'tokenValidator' as unknown as string[] } },
      }),
    /remotes\.a\.uses must be a list of expose keys such as \["\.\/tokenValidator"\]/,
  );
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(condition: () => boolean, ms = 3000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await sleep(20);
  }
}
