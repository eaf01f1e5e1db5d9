/**
 * A live-update check that cannot ask the remote is `failed` (and asked again by the next check), never `unchanged`
 * on the strength of the host's cached copy: the host runs a version already, so the stale-if-error fallback that
 * serves a first load from the cache has nothing to give a check but a wrong answer. Found as a flaky rollout fleet
 * test: under load a timed-out check answered `unchanged` from the cache folder the hosts shared, and hosts stayed on
 * a release the channel had rolled back.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { test } from 'node:test';
import { createHost } from '../src/index.ts';
import { createTempProject } from './helpers/temp-project.ts';
import { createSignedRemote } from './helpers/trust-fixture.ts';

test('a check whose manifest request times out is failed, not unchanged from the cache; the next check activates', async () => {
  await using remote = await createSignedRemote({ release: 1 });
  await using cache = await createTempProject({});
  const host = createHost({
    name: 'userService',
    remotes: { authService: { url: remote.manifestUrl, publicKey: remote.publicKey } },
    cache: { dir: cache.dir },
    timeouts: { headers: 300 },
    retry: { attempts: 1 },
    live: { pollInterval: false, push: false },
    onWarning: () => {},
  });
  try {
    const live = await host.live<{ answer: number }>('authService/x');
    assert.equal(live.answer, 42);
    await remote.publish({
      release: 2,
      exposes: { './x': { code: `${remote.canary}exports.answer = 43;\n` } },
    });
    // The remote accepts the manifest request and never answers it.
    const hung: ServerResponse[] = [];
    remote.server.override = (req: IncomingMessage, res: ServerResponse) => {
      if (!req.url?.startsWith('/mf-manifest.json')) return false;
      hung.push(res);
      return true;
    };
    const [outcome] = await host.update('authService');
    assert.equal(outcome?.status, 'failed', `the check could not ask the remote: ${JSON.stringify(outcome)}`);
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
