/**
 * A live-update check that cannot ask the remote is `failed`, never `unchanged` on the strength of the host's cached
 * copy: the host runs a version already, so the stale-if-error fallback that serves a first load from the cache has
 * nothing to give a check but a wrong answer (found as a flaky rollout fleet test: under load a timed-out check
 * answered `unchanged` from the cache folder the hosts shared, and hosts stayed on a release the channel had rolled
 * back). A failed check is asked again: polls by the next poll, which waits longer after each failed one; a check a
 * push started by a retry with backoff, so a build announced while the remote was overloaded still goes live.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHost, type HostOptions, type UpdateMessage } from '../src/index.ts';
import { createTempProject } from './helpers/temp-project.ts';
import { answering, createSignedRemote, type SignedRemote, serveWithFerry } from './helpers/trust-fixture.ts';
import { waitFor } from './helpers/wait-for.ts';

/**
 * ferry's request handler behind the remote's loopback server; while `down` is set, the manifest and its signature
 * answer 503 (the event stream stays up). `stop()` takes the handler away.
 */
function serveWithOutage(remote: SignedRemote): { down: boolean; stop(): void } {
  const outage = {
    down: false,
    stop: serveWithFerry(remote.server, remote.project.dir, (req, res) => {
      if (!outage.down || !/^\/mf-manifest\.json/.test(req.url ?? '')) return false;
      res.writeHead(503).end('overloaded');
      return true;
    }),
  };
  return outage;
}

/** How many times the remote was asked for its manifest. */
function manifestRequests(remote: SignedRemote): number {
  return remote.server.requests.filter((path) => path === '/mf-manifest.json').length;
}

/** A host of `remote` (its key pinned unless `signed: false`) whose update events go to `events`. */
function hostOf(
  remote: SignedRemote,
  cacheDir: string,
  events: UpdateMessage[],
  { signed = true, live, ...options }: Partial<HostOptions> & { signed?: boolean } = {},
) {
  const { manifestUrl: url, publicKey } = remote;
  return createHost({
    name: 'userService',
    remotes: { authService: signed ? { url, publicKey } : { url } },
    cache: { dir: cacheDir },
    onWarning: () => {},
    ...options,
    live: { pollInterval: false, push: false, ...live, onUpdate: (event) => events.push(event) },
  });
}

test('a check whose manifest request times out is failed, not unchanged from the cache; the next check activates', async () => {
  await using remote = await createSignedRemote({ release: 1 });
  await using cache = await createTempProject({});
  const host = hostOf(remote, cache.dir, [], { timeouts: { headers: 300 }, retry: { attempts: 1 } });
  try {
    const live = await host.live<{ answer: number }>('authService/x');
    assert.equal(live.answer, 42);
    await remote.publish({ release: 2, ...answering(remote, 43) });
    // The remote accepts the manifest request and never answers it.
    const hung: ServerResponse[] = [];
    remote.server.override = (req: IncomingMessage, res: ServerResponse) => {
      if (!req.url?.startsWith('/mf-manifest.json')) return false;
      hung.push(res);
      return true;
    };
    const [outcome] = await host.update('authService');
    assert.equal(outcome?.status, 'failed', `the check could not ask the remote: ${JSON.stringify(outcome)}`);
    assert.equal(outcome?.error?.name, 'TimeoutError');
    assert.equal(live.answer, 42, 'the current version keeps serving');
    for (const res of hung) res.destroy();

    remote.server.override = undefined;
    const [next] = await host.update('authService');
    assert.equal(next?.status, 'activated');
    assert.equal(live.answer, 43);
  } finally {
    await host.close();
  }
});

test('a check asks once: a 503 is failed at once, not retried (a fleet checking an overloaded remote does not multiply its load)', async () => {
  await using remote = await createSignedRemote({ release: 1 });
  await using cache = await createTempProject({});
  const outage = serveWithOutage(remote);
  // The default retry policy: an import would try a 503 three times.
  const host = hostOf(remote, cache.dir, []);
  try {
    await host.import('authService/x');
    outage.down = true;
    const before = manifestRequests(remote);
    const [outcome] = await host.update('authService');
    assert.equal(outcome?.status, 'failed');
    assert.equal(outcome?.error?.name, 'HttpStatusError');
    assert.equal(manifestRequests(remote), before + 1);
  } finally {
    await host.close();
    outage.stop();
  }
});

test('polls that cannot ask the remote ease off (a growing random extra wait), and the plain interval is back once one reaches it', async () => {
  await using remote = await createSignedRemote({ release: 1 });
  await using cache = await createTempProject({});
  const outage = serveWithOutage(remote);
  const events: UpdateMessage[] = [];
  // No breaker, and one request per check: the polls alone decide how often the remote is asked.
  const host = hostOf(remote, cache.dir, events, {
    breaker: false,
    retry: { attempts: 1 },
    live: { pollInterval: 100 },
  });
  const polls = () => events.filter((event) => event.type === 'check' && event.trigger === 'poll').length;
  try {
    const live = await host.live<{ answer: number }>('authService/x');
    await waitFor(() => polls() >= 3, 'polls at the plain interval');
    outage.down = true;
    const before = polls();
    await sleep(3000);
    // At the plain 100 ms, 3 s is ~25 polls (more than 20 even on a slow machine). After n failed polls in a row the
    // next waits 100 ms plus a random extra below 100 ms × 2^(n-1): about six in 3 s, and more than 15 would take the
    // extras of the sixth to fifteenth polls (ceilings 3.2 s to 60 s) all to fall below a few hundred ms.
    const whileDown = polls() - before;
    assert.ok(whileDown >= 2 && whileDown <= 15, `${whileDown} polls in 3 s while the remote answered 503`);
    assert.equal(live.answer, 42);

    // Back: the next poll (after at most the last extra wait, below a minute) finds the new build, and the polls
    // after it are at the plain interval again.
    await remote.publish({ release: 2, ...answering(remote, 43) });
    outage.down = false;
    await waitFor(() => live.answer === 43, 'the new build, once the remote answers again', 65_000);
    const after = polls();
    await sleep(1000);
    assert.ok(polls() - after >= 5, `${polls() - after} polls in the second after the remote answered again`);
  } finally {
    await host.close();
    outage.stop();
  }
});

test('a check a push started that cannot ask the remote is retried with backoff, and the announced build goes live without a poll', async () => {
  await using remote = await createSignedRemote({ release: 1 });
  await using cache = await createTempProject({});
  const outage = serveWithOutage(remote);
  const events: UpdateMessage[] = [];
  // Unsigned, so the host fetches the manifest the event announces (a signed remote's event carries it).
  const host = hostOf(remote, cache.dir, events, { signed: false, retry: { attempts: 1 }, live: { push: true } });
  try {
    const live = await host.live<{ answer: number }>('authService/x');
    await waitFor(() => remote.server.requests.includes('/mf-manifest.events'), 'the push subscription');
    await sleep(200);
    outage.down = true;
    const before = manifestRequests(remote);
    await remote.publish({ release: 2, ...answering(remote, 43) });
    // The announcement's check, and at least one retry, meet the 503.
    await waitFor(() => manifestRequests(remote) >= before + 2, 'the push check and a retry', 15_000);
    assert.equal(live.answer, 42);
    assert.ok(!events.some((event) => event.type === 'activated'));
    outage.down = false;
    await waitFor(() => live.answer === 43, 'the announced build, through a retry', 70_000);
    const activated = events.find((event) => event.type === 'activated');
    assert.equal(activated?.trigger, 'retry');
    assert.ok(!events.some((event) => event.trigger === 'poll'), 'polling is off: no poll found it');
  } finally {
    await host.close();
    outage.stop();
  }
});

test('a poll long after the first import has a deadline of its own: it activates the new build, with no stale-cache warning', async () => {
  // The watcher's timers are created inside the first import; its checks used to inherit that import's deadline, so
  // every poll after `timeouts.import` had passed failed at once, warned FERRY_STALE_CACHE ("unavailable"), and the
  // build arrived only through the stale copy's background refresh (trigger 'cache').
  await using remote = await createSignedRemote({ release: 1 });
  await using cache = await createTempProject({});
  const events: UpdateMessage[] = [];
  const warnings: string[] = [];
  const host = hostOf(remote, cache.dir, events, {
    timeouts: { import: 500 },
    live: { pollInterval: 100 },
    onWarning: (warning) => warnings.push(warning.code),
  });
  try {
    const live = await host.live<{ answer: number }>('authService/x');
    await sleep(1000); // twice the import deadline
    await remote.publish({ release: 2, ...answering(remote, 43) });
    await waitFor(() => live.answer === 43, 'the new build');
    assert.equal(events.find((event) => event.type === 'activated')?.trigger, 'poll');
    assert.deepEqual(warnings, []);
  } finally {
    await host.close();
  }
});
