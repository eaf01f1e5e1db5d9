/**
 * The demo under load during a redeployment: while clients keep calling the user service's `/profile`, the auth
 * service's validator is changed, rebuilt with `ferry build` into the folder the running auth service serves, and
 * announced on its push channel. The user service must serve the new behaviour within two seconds of the new
 * manifest being written, and no request may fail or get a wrong answer during the swap.
 *
 * Both versions are built from copies of the auth service's sources in temporary folders (never into
 * examples/auth-service/dist, which demo.e2e.test.ts rebuilds), signed with the demo's key.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { buildRemote } from '../src/build/index.ts';
import {
  AUTH_SERVER,
  EXAMPLES,
  login,
  removeCacheDirs,
  startService,
  stopAll,
  USER_SERVER,
} from './helpers/demo-services.ts';
import { createTempProject } from './helpers/temp-project.ts';

const AUTH_ROOT = join(EXAMPLES, 'auth-service');
/** Within this long after the new manifest is written, the user service must answer with the new validator. */
const SWAP_DEADLINE_MS = 2000;

const temporary: string[] = [];
after(async () => {
  await stopAll();
  removeCacheDirs();
  for (const dir of temporary) await rm(dir, { recursive: true, force: true });
});

/**
 * A copy of the auth service's sources as a project of its own (with jsonwebtoken linked from ferry's
 * node_modules, linked), its validator rewritten by `edit`, built into `outDir`, signed with the demo's key.
 */
async function buildAuthVersion(version: string, outDir: string, edit: (source: string) => string): Promise<void> {
  const { FERRY_SIGNING_KEY_FILE, prepareKeys } = await import('../examples/auth-service/prepare.ts');
  await prepareKeys();
  const project = await createTempProject({}, { link: ['jsonwebtoken', '@types/jsonwebtoken'] });
  const root = project.dir;
  temporary.push(root);
  await cp(join(AUTH_ROOT, 'src'), join(root, 'src'), { recursive: true });
  const validator = join(root, 'src', 'tokenValidator.ts');
  await writeFile(validator, edit(await readFile(validator, 'utf8')));
  await writeFile(
    join(root, 'ferry.config.json'),
    JSON.stringify({
      name: 'authService',
      version,
      exposes: { './tokenValidator': './src/tokenValidator.ts' },
      shared: { jsonwebtoken: { singleton: true, requiredVersion: '^9.0.0' } },
    }),
  );
  await buildRemote({ root, outDir, sign: FERRY_SIGNING_KEY_FILE });
}

interface Outcome {
  /** When the request was sent and when its answer was read (performance.now()). */
  sent: number;
  at: number;
  status: number;
  expected: number;
  /** For a 200: the validator version that answered (`undefined` for the first version). */
  validator?: string | undefined;
  error?: string;
}

test('a redeployed auth service goes live under load: new behaviour within 2 s, no failed request', async (t) => {
  t.after(stopAll);
  const served = await mkdtemp(join(tmpdir(), 'ferry-demo-live-served-'));
  temporary.push(served);
  await buildAuthVersion('1.0.0', served, (source) => source);

  const auth = await startService(AUTH_SERVER, { AUTH_SERVICE_PORT: '0', AUTH_FEDERATION_DIR: served });
  const user = await startService(USER_SERVER, { USER_SERVICE_PORT: '0', AUTH_SERVICE_URL: auth.url });
  await user.waitFor(/loaded authService\/tokenValidator from http/);
  const { token } = (await (await login(auth.url, 'alice', 'wonderland')).json()) as { token: string };

  // Clients: valid tokens (200), a missing header (401), a malformed token (403), in a loop, four at a time.
  const cases = [
    { headers: { authorization: `Bearer ${token}` }, expected: 200 },
    { headers: { authorization: `Bearer ${token}` }, expected: 200 },
    { headers: {}, expected: 401 },
    { headers: { authorization: 'Bearer not-a-token' }, expected: 403 },
  ];
  const outcomes: Outcome[] = [];
  let stop = false;
  const client = async (offset: number) => {
    for (let i = offset; !stop; i++) {
      const { headers, expected } = cases[i % cases.length]!;
      const sent = performance.now();
      try {
        const response = await fetch(`${user.url}/profile`, { headers });
        const body = (await response.json()) as { user?: { validator?: string }; error?: string };
        outcomes.push({
          sent,
          at: performance.now(),
          status: response.status,
          expected,
          validator: body.user?.validator,
        });
      } catch (error) {
        outcomes.push({ sent, at: performance.now(), status: 0, expected, error: String(error) });
      }
    }
  };
  const clients = [0, 1, 2, 3].map(client);
  await new Promise((resolve) => setTimeout(resolve, 500));

  // The new version adds a claim to the user it returns: /profile's Welcome payload shows it.
  await buildAuthVersion('1.1.0', served, (source) => {
    const changed = source.replace(
      'user: { sub: claims.sub, username: claims.username, role: claims.role }',
      "user: { sub: claims.sub, username: claims.username, role: claims.role, validator: 'v2' }",
    );
    assert.notEqual(changed, source, 'the validator source changed shape: update this test');
    return changed;
  });
  const deployedAt = performance.now();

  const firstNew = async () => {
    for (;;) {
      const hit = outcomes.find((outcome) => outcome.validator === 'v2');
      if (hit) return hit.at;
      if (performance.now() - deployedAt > 10_000) return undefined;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const liveAt = await firstNew();
  // Keep the load on a little longer, to see that nothing flips back or fails after the swap.
  await new Promise((resolve) => setTimeout(resolve, 500));
  stop = true;
  await Promise.all(clients);

  assert.ok(liveAt !== undefined, `the new validator never answered:\n${user.output()}`);
  const latency = liveAt - deployedAt;
  t.diagnostic(`new behaviour served ${latency.toFixed(0)} ms after the manifest was written`);
  assert.ok(latency <= SWAP_DEADLINE_MS, `the new version took ${latency.toFixed(0)} ms to go live`);

  const wrong = outcomes.filter((outcome) => outcome.status !== outcome.expected);
  t.diagnostic(`${outcomes.length} requests during the test, ${wrong.length} wrong`);
  assert.ok(outcomes.length >= 50, `too few requests to mean anything: ${outcomes.length}`);
  assert.deepEqual(wrong, [], `requests failed or were answered wrongly during the swap:\n${user.output()}`);
  // A call in progress may finish on the version it started with; one sent after the first new answer may not.
  const afterSwap = outcomes.filter((outcome) => outcome.sent > liveAt && outcome.status === 200);
  assert.ok(afterSwap.length > 0);
  assert.ok(
    afterSwap.every((outcome) => outcome.validator === 'v2'),
    'a request after the swap was answered by the old validator',
  );
});
