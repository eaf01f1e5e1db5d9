/**
 * `ferry/testing` used the way a user would: a project with the built `ferry` package in its node_modules and a
 * node:test file that imports `createTestRemote` from `ferry/testing` and `createHost` from `ferry`, run with
 * `node --test` in a child process. Its tests: a remote of plain values (no bundler) loaded by a host that pins its
 * throwaway key, republished and picked up by live updates through the push channel; a remote built from a source
 * string (real build) with a shared package; and closing, after which the port is free.
 */
import assert from 'node:assert/strict';
import { symlink } from 'node:fs/promises';
import { test } from 'node:test';
import { runProcess } from './helpers/build-fixture.ts';
import { createTempProject, REPO_ROOT } from './helpers/temp-project.ts';

const USER_TEST = `import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHost } from 'ferry';
import { createTestRemote } from 'ferry/testing';

test('a remote made of values, republished: the host follows it', async () => {
  await using remote = await createTestRemote({
    name: 'authService',
    exposes: {
      './tokenValidator': {
        async validateJwtToken(token) {
          return token === 'good' ? { isValid: true, user: { username: 'alice' } } : { isValid: false, error: 'bad' };
        },
        maxAge: 60,
        issuers: ['authService', /^auth-/],
      },
    },
  });
  assert.match(remote.publicKey, /^ed25519:/);
  await using host = createHost({
    name: 'userService',
    remotes: { authService: remote.remoteOptions },
    requireSignatures: true,
    cache: { dir: './.cache-values' },
  });
  const validator = await host.live('authService/tokenValidator');
  assert.deepEqual(await validator.validateJwtToken('good'), { isValid: true, user: { username: 'alice' } });
  assert.equal(validator.maxAge, 60);
  assert.ok(validator.issuers[1].test('auth-eu'));

  const activated = new Promise((resolve) => host.on('activated', resolve));
  const published = await remote.publish({
    version: '1.1.0',
    exposes: { './tokenValidator': { validateJwtToken: async () => ({ isValid: false, error: 'revoked' }) } },
  });
  assert.ok(published.release > 0);
  await activated;
  assert.equal(host.loadedVersion('authService'), '1.1.0');
  assert.deepEqual(await validator.validateJwtToken('good'), { isValid: false, error: 'revoked' });
});

test('a remote built from a source string, with a shared package', async () => {
  await using remote = await createTestRemote({
    name: 'mathRemote',
    version: '2.0.0',
    exposes: {
      './math': "import ms from 'ms';\\nexport const double = (n: number): number => n * 2;\\nexport const day: number = ms('1d');\\n",
    },
    shared: { ms: { singleton: true } },
  });
  await using host = createHost({
    name: 'userService',
    remotes: { mathRemote: remote.remoteOptions },
    shared: { ms: { singleton: true } },
    cache: { dir: './.cache-built' },
  });
  const math = await host.import('mathRemote/math');
  assert.equal(math.double(21), 42);
  assert.equal(math.day, 86_400_000);
  assert.equal(host.loadedVersion('mathRemote'), '2.0.0');
  const uses = host.shared().default.ms.uses;
  assert.ok(uses.length > 0 && uses.every((use) => use.from === 'userService'), JSON.stringify(uses));
});

test('what cannot be sent to a host is refused by name', async () => {
  await assert.rejects(createTestRemote({ name: 'bad', exposes: { './a': { max: Math.max } } }), {
    code: 'ERR_FERRY_INVALID_OPTION',
    message: /max is a native or bound function, which has no source/,
  });
  await assert.rejects(createTestRemote({ name: 'bad', exposes: { a: { x: 1 } } }), {
    code: 'ERR_FERRY_INVALID_OPTION',
    message: /expose key "a" of remote "bad" must start with/,
  });
});

test('close() stops the server', async () => {
  const remote = await createTestRemote({ name: 'gone', exposes: { '.': { answer: 42 } } });
  assert.equal((await fetch(remote.manifestUrl)).status, 200);
  await remote.close();
  await assert.rejects(fetch(remote.manifestUrl));
});
`;

test('a user test suite imports ferry/testing and ferry from the built package, and passes', async () => {
  await using project = await createTempProject(
    { 'package.json': JSON.stringify({ name: 'user-service', type: 'module' }), 'auth.test.mjs': USER_TEST },
    { link: ['ms'] },
  );
  await symlink(REPO_ROOT, project.path('node_modules', 'ferry'), 'dir');
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT; // the child is its own test run, not a subtest of this one
  const result = await runProcess(process.execPath, ['--test', '--test-reporter=spec', 'auth.test.mjs'], {
    cwd: project.dir,
    env,
  });
  assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
  assert.match(result.stdout, /pass 4/);
  assert.match(result.stdout, /fail 0/);
});
