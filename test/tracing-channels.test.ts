/**
 * The tracing channels (`tracing:ferry:{import,manifest,file,update}:*`) as a subscriber sees them, without any
 * OpenTelemetry: which operations start inside which, and the context objects filled in when they settle (versions,
 * releases, sources, the ferry error with its code, an update's outcome and reason). The plain channels stay.
 */
import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import diagnosticsChannel from 'node:diagnostics_channel';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createHost, type HostOptions } from '../src/index.ts';
import { createSignedRemote, newKeys, type SignedRemote } from './helpers/trust-fixture.ts';

const cacheDir = mkdtempSync(join(tmpdir(), 'ferry-tracing-'));
after(() => rmSync(cacheDir, { recursive: true, force: true }));

interface Seen {
  operation: string;
  event: string;
  context: Record<string, unknown>;
  /** The operation this one started inside (read from a store bound to the start channels). */
  parent: string | undefined;
}

/** Subscribes to the four tracing channels; a store bound to each `start` says which operation encloses which. */
function record(): { seen: Seen[]; stop(): void } {
  const seen: Seen[] = [];
  const store = new AsyncLocalStorage<string>();
  const stops: Array<() => void> = [];
  for (const operation of ['import', 'manifest', 'file', 'update']) {
    const channel = diagnosticsChannel.tracingChannel(`ferry:${operation}`);
    channel.start.bindStore(store, () => operation);
    const handlers = {
      start: (context: unknown) =>
        seen.push({ operation, event: 'start', context: { ...(context as object) }, parent: undefined }),
      end: () => {},
      asyncStart: () => {},
      asyncEnd: (context: unknown) =>
        seen.push({ operation, event: 'asyncEnd', context: context as Record<string, unknown>, parent: undefined }),
      error: (context: unknown) =>
        seen.push({ operation, event: 'error', context: context as Record<string, unknown>, parent: undefined }),
    };
    // The parent: the store's value when the start event is published is this operation; the one before is its caller.
    const outer = new AsyncLocalStorage<string>();
    channel.start.bindStore(outer, () => store.getStore() ?? 'caller');
    channel.subscribe(handlers);
    stops.push(() => {
      channel.unsubscribe(handlers);
      channel.start.unbindStore(store);
      channel.start.unbindStore(outer);
    });
    const startHandler = (context: unknown) => {
      const last = seen.findLast(
        (s) =>
          s.event === 'start' && s.operation === operation && s.context['host'] === (context as { host: string }).host,
      );
      if (last) last.parent = outer.getStore();
    };
    channel.start.subscribe(startHandler);
    stops.push(() => channel.start.unsubscribe(startHandler));
  }
  return {
    seen,
    stop: () => {
      for (const stop of stops) stop();
    },
  };
}

function hostFor(remote: SignedRemote, extra: Partial<HostOptions> = {}) {
  return createHost({
    name: 'traced',
    remotes: { authService: { url: remote.manifestUrl, publicKey: remote.publicKey } },
    cache: { dir: cacheDir },
    live: { pollInterval: false, push: false },
    onWarning: () => {},
    ...extra,
  });
}

test('a cold import: import, then its manifest and files inside it, each context filled in when it settles', async () => {
  await using remote = await createSignedRemote({ release: 6, version: '1.2.0' });
  const host = hostFor(remote);
  const { seen, stop } = record();
  try {
    await host.import('authService/x');
  } finally {
    stop();
  }
  const starts = seen.filter((s) => s.event === 'start').map((s) => `${s.operation} in ${s.parent}`);
  assert.deepEqual(starts, ['import in caller', 'manifest in import', 'file in import', 'file in import']);
  const imported = seen.find((s) => s.operation === 'import' && s.event === 'asyncEnd')!.context;
  assert.deepEqual(
    [
      imported['host'],
      imported['remote'],
      imported['expose'],
      imported['specifier'],
      imported['version'],
      imported['release'],
      imported['source'],
    ],
    ['traced', 'authService', './x', 'authService/x', '1.2.0', 6, 'network'],
  );
  assert.equal((imported['result'] as { answer: number }).answer, 42);
  const manifest = seen.find((s) => s.operation === 'manifest' && s.event === 'asyncEnd')!.context;
  assert.deepEqual(
    [manifest['url'], manifest['version'], manifest['release'], manifest['source'], manifest['signed']],
    [remote.manifestUrl, '1.2.0', 6, 'network', true],
  );
  const files = seen.filter((s) => s.operation === 'file' && s.event === 'asyncEnd').map((s) => s.context);
  for (const file of files)
    assert.deepEqual([file['source'], file['status'], file['version']], ['network', 200, '1.2.0']);
  assert.equal(files.length, 2);
  assert.ok(files.some((f) => f['file'] === 'remoteEntry.js'));
  await host.close();
});

test('an expose already loaded: the same exports, traced and announced like the first import, nothing fetched', async () => {
  await using remote = await createSignedRemote({ release: 6, version: '1.2.0' });
  const host = hostFor(remote);
  const first = await host.import('authService/x');
  const ended: unknown[] = [];
  const onEnd = (message: unknown) => ended.push(message);
  diagnosticsChannel.subscribe('ferry:import:end', onEnd);
  const { seen, stop } = record();
  let again: unknown;
  try {
    again = await host.import('authService/x');
  } finally {
    stop();
    diagnosticsChannel.unsubscribe('ferry:import:end', onEnd);
  }
  assert.equal(again, first);
  assert.deepEqual(
    seen.map((s) => `${s.operation} ${s.event}`),
    ['import start', 'import asyncEnd'],
  );
  const imported = seen.find((s) => s.event === 'asyncEnd')!.context;
  assert.deepEqual(
    [imported['version'], imported['release'], imported['source'], imported['result']],
    ['1.2.0', 6, 'network', first],
  );
  assert.equal(ended.length, 1);
  assert.deepEqual(
    { ...(ended[0] as Record<string, unknown>), durationMs: 0 },
    { host: 'traced', remote: 'authService', expose: './x', version: '1.2.0', durationMs: 0 },
  );
  await host.close();
});

test('a failed import: the error event carries the typed error and its code; an update check says why it refused', async () => {
  await using remote = await createSignedRemote({ release: 2 });
  const wrongKey = createHost({
    name: 'traced',
    remotes: { authService: { url: remote.manifestUrl, publicKey: newKeys().publicKey } },
    cache: { dir: cacheDir },
    live: { pollInterval: false, push: false },
    onWarning: () => {},
  });
  const host = hostFor(remote);
  await host.import('authService/x');
  const { seen, stop } = record();
  try {
    await wrongKey.import('authService/x').catch(() => {});
    await remote.publish({ release: 3, signWith: newKeys().privateKey });
    await host.update('authService');
  } finally {
    stop();
  }
  const errors = seen
    .filter((s) => s.event === 'error')
    .map((s) => [s.operation, (s.context['error'] as { code: string }).code]);
  assert.deepEqual(errors, [
    ['manifest', 'ERR_FERRY_SIGNATURE'],
    ['import', 'ERR_FERRY_SIGNATURE'],
    ['manifest', 'ERR_FERRY_SIGNATURE'],
  ]);
  const update = seen.find((s) => s.operation === 'update' && s.event === 'asyncEnd')!;
  assert.deepEqual(
    [update.context['trigger'], update.context['status'], update.context['reason'], update.context['version']],
    ['manual', 'refused', 'verification', '1.0.0'],
  );
  assert.equal(
    seen.find(
      (s) =>
        s.operation === 'manifest' && s.event === 'start' && s.context['host'] === 'traced' && s.parent === 'update',
    )?.operation,
    'manifest',
  );
  await host.close();
  await wrongKey.close();
});

test('nobody subscribed: no context is built (the channels report no subscribers) and imports work as before', async () => {
  for (const operation of ['import', 'manifest', 'file', 'update']) {
    assert.equal(diagnosticsChannel.tracingChannel(`ferry:${operation}`).hasSubscribers, false, operation);
  }
  await using remote = await createSignedRemote({ release: 1 });
  const host = hostFor(remote);
  assert.equal((await host.import<{ answer: number }>('authService/x')).answer, 42);
  await host.close();
});
