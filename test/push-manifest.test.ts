/**
 * The push channel carries the announced manifest and its signature (src/manifest/manifest-event.ts, issue 21's
 * fan-out): a host activates a pushed build with one request (its changed files) instead of three, and the bytes an
 * event carries have no authority — a host uses them only for a signed remote, only when they verify as a fetched
 * manifest would, and fetches the manifest whenever they do not.
 */
import assert from 'node:assert/strict';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHost, type HostOptions, type UpdateMessage } from '../src/index.ts';
import {
  integrityOf,
  MAX_PUSHED_MANIFEST_BYTES,
  manifestEventData,
  parseManifestEvent,
  signatureFileFor,
} from '../src/manifest/index.ts';
import { createManifestEvents } from '../src/server/events.ts';
import { subscribe } from './helpers/event-client.ts';
import { startLoopback } from './helpers/loopback.ts';
import { createTempProject } from './helpers/temp-project.ts';
import { answering, createSignedRemote, type SignedRemote, serveWithFerry } from './helpers/trust-fixture.ts';
import { waitFor } from './helpers/wait-for.ts';

function pushHost(url: string, publicKey: string | undefined, cacheDir: string, events: UpdateMessage[]) {
  const options: HostOptions = {
    name: 'userService',
    remotes: { authService: publicKey === undefined ? { url } : { url, publicKey } },
    cache: { dir: cacheDir },
    live: { pollInterval: false, push: true, onUpdate: (event) => events.push(event) },
    onWarning: () => {},
  };
  return createHost(options);
}

describe('a pushed manifest', () => {
  test('a new build is activated with one request (its file): the event carries the signed manifest, which is cached as if fetched', async () => {
    await using remote = await createSignedRemote({ release: 1 });
    await remote.publish(answering(remote, 1));
    const { server } = remote;
    const stopEvents = serveWithFerry(server, remote.project.dir);
    await using cache = await createTempProject({});
    const events: UpdateMessage[] = [];
    const host = pushHost(`${server.url}mf-manifest.json`, remote.publicKey, cache.dir, events);
    try {
      const live = await host.live<{ answer: number }>('authService/x');
      assert.equal(live.answer, 1);
      await waitFor(() => server.requests.includes('/mf-manifest.events'), 'the push subscription', 8000);
      await sleep(200); // the current manifest, sent to every new subscriber, asks for nothing
      server.requests.length = 0;

      const manifest = await remote.publish({ release: 2, ...answering(remote, 2) });
      await waitFor(() => events.some((event) => event.type === 'activated'), 'the activation', 8000);
      assert.equal(live.answer, 2);
      const swap = server.requests.filter((path) => path !== '/mf-manifest.events');
      assert.ok(swap.includes(`/${manifest.ferry.exposes['./x']!.file}`), `the new file was fetched: ${swap}`);
      assert.deepEqual(
        swap.filter((path) => path.startsWith('/mf-manifest')),
        [],
        'neither the manifest nor its signature was requested: the event carried both',
      );
    } finally {
      await host.close();
      stopEvents();
      await server.close();
    }

    // The pushed manifest was kept with its signature and record: a restart with the remote down starts from it.
    const restarted = pushHost(`${server.url}mf-manifest.json`, remote.publicKey, cache.dir, []);
    try {
      const module = await restarted.import<{ answer: number }>('authService/x');
      assert.equal(module.answer, 2);
    } finally {
      await restarted.close();
    }
  });
});

describe('the bytes of a push event carry no authority', () => {
  /** A remote served by the loopback server, whose event stream the test writes: returns a function that sends. */
  async function hostileChannel(remote: SignedRemote) {
    const streams: ServerResponse[] = [];
    remote.server.override = (req: IncomingMessage, res: ServerResponse) => {
      if (!req.url?.startsWith('/mf-manifest.events')) return false;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('retry: 60000\n\n');
      streams.push(res);
      return true;
    };
    return {
      streams,
      send(data: string) {
        for (const res of streams) res.write(`event: manifest\ndata: ${data}\n\n`);
      },
      close() {
        for (const res of streams) res.destroy();
      },
    };
  }

  async function setUp(options: { signed: boolean }) {
    const remote = await createSignedRemote({ release: 1 });
    await remote.publish(answering(remote, 1));
    const channel = await hostileChannel(remote);
    const cache = await createTempProject({});
    const events: UpdateMessage[] = [];
    const host = pushHost(remote.manifestUrl, options.signed ? remote.publicKey : undefined, cache.dir, events);
    const live = await host.live<{ answer: number }>('authService/x');
    await waitFor(() => channel.streams.length > 0, 'the push subscription', 8000);
    return {
      remote,
      channel,
      events,
      live,
      manifestRequests: () => remote.server.requests.filter((path) => path === '/mf-manifest.json').length,
      async [Symbol.asyncDispose]() {
        await host.close();
        channel.close();
        await remote[Symbol.asyncDispose]();
        await cache.remove();
      },
    };
  }

  const dataOf = (bytes: Uint8Array, signature: Uint8Array | undefined) =>
    JSON.stringify({
      integrity: integrityOf(bytes),
      manifest: Buffer.from(bytes).toString('base64'),
      ...(signature ? { signature: Buffer.from(signature).toString('base64') } : {}),
    });

  test('a manifest that does not verify (a byte changed) is not used: the host fetches the manifest, and only the real build runs', async () => {
    await using setup = await setUp({ signed: true });
    const { remote, channel, events, live } = setup;
    await remote.publish({ release: 2, ...answering(remote, 2) });
    const real = await readFile(join(remote.project.dir, 'mf-manifest.json'));
    const signature = await readFile(join(remote.project.dir, 'mf-manifest.json.sig'));
    // The same manifest with the release raised: the signature no longer matches it.
    const forged = Buffer.from(real.toString('utf8').replace('"release": 2', '"release": 9'));
    assert.notDeepEqual(forged, real);
    const before = setup.manifestRequests();
    channel.send(dataOf(forged, signature));
    await waitFor(() => events.some((event) => event.type === 'activated'), 'the activation', 8000);
    assert.equal(live.answer, 2);
    assert.ok(setup.manifestRequests() > before, 'the host fetched the manifest instead');
    const activated = events.find((event) => event.type === 'activated');
    assert.equal(activated?.release, 2, 'the fetched (real) build, not the forged release 9');
  });

  test('a validly signed older manifest (a replay) is not used: the host fetches, and stays on its release', async () => {
    await using setup = await setUp({ signed: true });
    const { remote, channel, events, live } = setup;
    const old = await readFile(join(remote.project.dir, 'mf-manifest.json'));
    const oldSignature = await readFile(join(remote.project.dir, 'mf-manifest.json.sig'));
    await remote.publish({ release: 2, ...answering(remote, 2) });
    channel.send(dataOf(await readFile(join(remote.project.dir, 'mf-manifest.json')), undefined));
    // Unsigned bytes of the real build: not verified, so fetched; the fetch finds release 2.
    await waitFor(() => events.some((event) => event.type === 'activated'), 'the activation of release 2', 8000);
    assert.equal(live.answer, 2);
    remote.resetRuns();
    const before = setup.manifestRequests();
    await sleep(1100); // one push check a second
    channel.send(dataOf(old, oldSignature));
    await waitFor(() => setup.manifestRequests() > before, 'the fetch of the manifest', 8000);
    await sleep(300);
    assert.equal(live.answer, 2, 'the replayed release 1 was not activated');
    assert.equal(remote.runs(), 0, 'no code of the replayed build ran');
    assert.equal(events.filter((event) => event.type === 'activated').length, 1);
  });

  test('for an unsigned remote the bytes are ignored: the host fetches the manifest', async () => {
    await using setup = await setUp({ signed: false });
    const { remote, channel, events, live } = setup;
    await remote.publish({ release: 2, ...answering(remote, 2), signWith: null });
    const bytes = await readFile(join(remote.project.dir, 'mf-manifest.json'));
    const before = setup.manifestRequests();
    channel.send(dataOf(bytes, undefined));
    await waitFor(() => events.some((event) => event.type === 'activated'), 'the activation', 8000);
    assert.equal(live.answer, 2);
    assert.ok(setup.manifestRequests() > before, 'fetched, although the event carried the very bytes');
  });
});

describe('the announcement format (src/manifest/manifest-event.ts)', () => {
  const bytes = Buffer.from(`${JSON.stringify({ ferry: { version: '1.2.3', release: 4 } })}\n`);
  const signature = Buffer.from('{"signature":"x"}\n');

  test('manifestEventData carries small manifests and their signature, announces large ones by integrity only', () => {
    const small = JSON.parse(manifestEventData(bytes, signature)!) as Record<string, unknown>;
    assert.equal(small.integrity, integrityOf(bytes));
    assert.equal(small.version, '1.2.3');
    assert.equal(small.release, 4);
    assert.deepEqual(Buffer.from(small.manifest as string, 'base64'), bytes);
    assert.deepEqual(Buffer.from(small.signature as string, 'base64'), signature);
    assert.equal(small.etag, `"${integrityOf(bytes)}"`);

    const large = Buffer.from(
      JSON.stringify({ ferry: { version: '1.0.0' }, pad: 'x'.repeat(MAX_PUSHED_MANIFEST_BYTES) }),
    );
    const announced = JSON.parse(manifestEventData(large, signature)!) as Record<string, unknown>;
    assert.equal(announced.integrity, integrityOf(large));
    assert.equal(announced.manifest, undefined);
    assert.equal(announced.signature, undefined);

    assert.equal(manifestEventData(Buffer.from('{"ferry": {'), undefined), undefined, 'half a manifest: read again');
    assert.equal(manifestEventData(Buffer.from('null'), undefined), undefined);
  });

  test('parseManifestEvent returns the bytes only when they are well formed, small and hash to the integrity', () => {
    const data = manifestEventData(bytes, signature)!;
    const good = parseManifestEvent(data);
    assert.equal(good.integrity, integrityOf(bytes));
    assert.deepEqual(good.pushed?.bytes, bytes);
    assert.deepEqual(good.pushed?.signature, signature);
    assert.equal(good.pushed?.etag, `"${integrityOf(bytes)}"`);

    const parsed = JSON.parse(data) as Record<string, unknown>;
    const variant = (change: Record<string, unknown>) => parseManifestEvent(JSON.stringify({ ...parsed, ...change }));
    const other = Buffer.from('{"ferry":{}}');
    // Announced, but no usable bytes: the host fetches.
    for (const [why, change] of Object.entries({
      'bytes of another manifest': { manifest: other.toString('base64') },
      'not base64': { manifest: '!!!!' },
      'base64 with a bad length': { manifest: 'abc' },
      'a number': { manifest: 42 },
      'an empty string': { manifest: '' },
      'too large': { manifest: Buffer.alloc(MAX_PUSHED_MANIFEST_BYTES + 3).toString('base64') },
      'a signature that is not base64': { signature: '%%%%' },
      'a signature too large': { signature: Buffer.alloc(8192).toString('base64') },
    })) {
      const result = variant(change);
      assert.equal(result.integrity, integrityOf(bytes), why);
      assert.equal(result.pushed, undefined, why);
    }
    assert.equal(variant({ etag: 'no quotes' }).pushed?.etag, undefined, 'a malformed ETag is dropped');
    assert.equal(variant({ etag: `"${'e'.repeat(300)}"` }).pushed?.etag, undefined, 'an overlong ETag is dropped');
    assert.equal(variant({ integrity: 'sha384-short' }).pushed, undefined, 'a malformed integrity');
    for (const garbage of ['', 'not json', '[]', 'null', '"text"', '{"integrity": 5}']) {
      assert.equal(parseManifestEvent(garbage).pushed, undefined, garbage);
    }
    assert.equal(parseManifestEvent('{"integrity":"sha384-x"}').integrity, 'sha384-x', 'announced, checked by fetch');
  });
});

describe("the server's announcement", () => {
  test('carries the manifest and the signature written for exactly those bytes (not a newer mf-manifest.json.sig)', async () => {
    await using project = await createTempProject({});
    const dir = project.dir;
    const manifest = Buffer.from(`${JSON.stringify({ ferry: { version: '1.0.0', release: 1 } }, null, 2)}\n`);
    const exact = Buffer.from('{"signature":"exact"}\n');
    await writeFile(join(dir, 'mf-manifest.json'), manifest);
    await writeFile(join(dir, signatureFileFor(manifest)), exact);
    // A build in progress has already replaced the fixed-name signature.
    await writeFile(join(dir, 'mf-manifest.json.sig'), '{"signature":"next build"}\n');
    await using server = await startLoopback(dir);
    const stopEvents = serveWithFerry(server, dir);
    const subscriber = await subscribe(`${server.url}mf-manifest.events`);
    try {
      await subscriber.waitFor(/event: manifest\ndata: .*\n\n/);
      const data = /data: (.*)\n/.exec(subscriber.text())![1]!;
      const { pushed } = parseManifestEvent(data);
      assert.deepEqual(pushed?.bytes, manifest);
      assert.deepEqual(pushed?.signature, exact);

      // Without the copy, the fixed name is sent (a host verifies it, and fetches when it does not verify).
      const next = Buffer.from(`${JSON.stringify({ ferry: { version: '1.0.1', release: 2 } }, null, 2)}\n`);
      await writeFile(join(dir, 'mf-manifest.json'), next);
      await subscriber.waitFor(/"version":"1\.0\.1"/);
      const last = [...subscriber.text().matchAll(/data: (.*)\n/g)].at(-1)![1]!;
      const announced = parseManifestEvent(last);
      assert.deepEqual(announced.pushed?.bytes, next);
      assert.equal(Buffer.from(announced.pushed!.signature!).toString(), '{"signature":"next build"}\n');
    } finally {
      subscriber.close();
      stopEvents();
    }
  });

  /** A manifest of `release`, as `ferry build` writes it (its bytes end in a newline). */
  const manifestOf = (release: number) =>
    Buffer.from(`${JSON.stringify({ ferry: { version: `1.0.${release}`, release } }, null, 2)}\n`);
  /** Writes a build as `ferry build` does: the signature copy for its bytes, the manifest (renamed in), the fixed name. */
  async function writeBuild(dir: string, release: number): Promise<void> {
    const manifest = manifestOf(release);
    const signature = `{"signature":"build ${release}"}\n`;
    await writeFile(join(dir, signatureFileFor(manifest)), signature);
    await writeFile(join(dir, '.next-manifest'), manifest);
    await rename(join(dir, '.next-manifest'), join(dir, 'mf-manifest.json'));
    await writeFile(join(dir, 'mf-manifest.json.sig'), signature);
  }
  const announcedReleases = (text: string) =>
    [...text.matchAll(/data: (.*)\n/g)].map((match) => (JSON.parse(match[1]!) as { release: number }).release);

  test('a whole build (its exact signature copy there, or no signature at all) is announced without waiting for quiet; anything else waits', async () => {
    await using project = await createTempProject({});
    const dir = project.dir;
    await writeBuild(dir, 1);
    await using server = await startLoopback(dir);
    // A quiet period no test waits for: what is announced inside this test was announced without it.
    const events = createManifestEvents(dir, {
      maxSubscribers: Number.POSITIVE_INFINITY,
      streamLifetime: Number.POSITIVE_INFINITY,
      quietMs: 600_000,
    });
    server.override = (req, res) => {
      events.subscribe(req, res);
      return true;
    };
    const subscriber = await subscribe(`${server.url}mf-manifest.events`);
    try {
      await subscriber.waitFor(/"release":1/);
      await writeBuild(dir, 2);
      await subscriber.waitFor(/"release":2/);
      const { pushed } = parseManifestEvent([...subscriber.text().matchAll(/data: (.*)\n/g)].at(-1)![1]!);
      assert.deepEqual(pushed?.bytes, manifestOf(2));
      assert.equal(Buffer.from(pushed!.signature!).toString(), '{"signature":"build 2"}\n');

      // Written in place with no copy for its bytes (another tool's deploy): not announced until the folder is quiet.
      await writeFile(join(dir, 'mf-manifest.json'), manifestOf(3));
      await sleep(500);
      assert.deepEqual(announcedReleases(subscriber.text()), [1, 2]);
      // Its signature copy arriving half-written is not a whole build either.
      await writeFile(join(dir, signatureFileFor(manifestOf(3))), '{"signature":"bu');
      await writeFile(join(dir, 'mf-manifest.json.sig'), '{"signature":"build 3"}\n');
      await sleep(500);
      assert.deepEqual(announcedReleases(subscriber.text()), [1, 2]);
      // Whole, and the folder changes: announced.
      await writeFile(join(dir, signatureFileFor(manifestOf(3))), '{"signature":"build 3"}\n');
      await writeFile(join(dir, 'mf-manifest.json.sig'), '{"signature":"build 3"}\n');
      await subscriber.waitFor(/"release":3/);
      assert.deepEqual(announcedReleases(subscriber.text()), [1, 2, 3]);
      // An unsigned build (no signature under either name, as an unsigned `ferry build` leaves it): whole.
      await rm(join(dir, 'mf-manifest.json.sig'));
      await writeFile(join(dir, '.next-manifest'), manifestOf(4));
      await rename(join(dir, '.next-manifest'), join(dir, 'mf-manifest.json'));
      await subscriber.waitFor(/"release":4/);
      const unsigned = parseManifestEvent([...subscriber.text().matchAll(/data: (.*)\n/g)].at(-1)![1]!);
      assert.deepEqual(unsigned.pushed?.bytes, manifestOf(4));
      assert.equal(unsigned.pushed?.signature, undefined);
    } finally {
      subscriber.close();
      events.close();
    }
  });

  test('builds written one right after another are announced in order: an older one never after a newer one', async () => {
    await using project = await createTempProject({});
    const dir = project.dir;
    await writeBuild(dir, 1);
    await using server = await startLoopback(dir);
    const stopEvents = serveWithFerry(server, dir);
    const subscriber = await subscribe(`${server.url}mf-manifest.events`);
    try {
      await subscriber.waitFor(/"release":1/);
      for (let release = 2; release <= 12; release++) await writeBuild(dir, release);
      await subscriber.waitFor(/"release":12/);
      // Past the quiet period and the stat poll: whatever was still being read has had its chance. (Each build makes
      // several changes, each read: the reads usually finish in order; the server drops those of an earlier change
      // in case they do not.)
      await sleep(1500);
      const releases = announcedReleases(subscriber.text());
      assert.equal(releases.at(-1), 12, `announced: ${releases.join(', ')}`);
      assert.deepEqual(
        releases,
        [...releases].sort((a, b) => a - b),
        `announced out of order: ${releases.join(', ')}`,
      );
      assert.equal(new Set(releases).size, releases.length, `announced twice: ${releases.join(', ')}`);
    } finally {
      subscriber.close();
      stopEvents();
    }
  });
});
