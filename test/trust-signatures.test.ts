/**
 * Signatures on the host: a real `ferry build --sign` output loads only with its key pinned; the wrong key, the key
 * of another remote, a truncated, missing or edited signature are refused with SignatureError before any remote code
 * runs; several pinned keys allow rotation; `requireSignatures: true` refuses unsigned remotes at createHost.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createHost, type FetchLike, InvalidOptionError, SignatureError } from '../src/index.ts';
import { createRemoteProject, runFerry } from './helpers/build-fixture.ts';
import { type Loopback, startLoopback } from './helpers/loopback.ts';
import { createTempProject, REPO_ROOT, type TempProject } from './helpers/temp-project.ts';
import { createSignedRemote, newKeys, quiet } from './helpers/trust-fixture.ts';

const canaries = globalThis as unknown as Record<string, number | undefined>;
const BUILD_CANARY = `__ferryBuildCanary${process.pid}`;

async function cacheDir(): Promise<TempProject> {
  return createTempProject({});
}

describe('a real signed build', () => {
  let project: TempProject;
  let server: Loopback;
  let publicKey: string;
  let cache: TempProject;

  before(async () => {
    project = await createRemoteProject({
      'src/other.ts': `(globalThis as any).${BUILD_CANARY} = ((globalThis as any).${BUILD_CANARY} ?? 0) + 1;\nexport const answer: number = 42;\n`,
    });
    const keygen = await runFerry(['keygen', '--out', 'keys/auth.pem'], { cwd: project.dir });
    assert.equal(keygen.code, 0, keygen.stderr);
    publicKey = /Public key: (ed25519:\S+)/.exec(keygen.stdout)![1]!;
    const build = await runFerry(['build', '--sign', 'keys/auth.pem'], { cwd: project.dir });
    assert.equal(build.code, 0, build.stderr);
    server = await startLoopback(project.path('dist', 'federation'));
    cache = await cacheDir();
  });
  after(async () => {
    await server.close();
    await project.remove();
    await cache.remove();
  });

  const hostWith = (key: string | string[]) =>
    createHost({
      name: 'userService',
      remotes: { authService: { url: `${server.url}mf-manifest.json`, publicKey: key } },
      cache: { dir: cache.dir },
      root: REPO_ROOT,
      ...quiet,
    });

  test('a key the remote was not signed with is refused before any file is fetched', async () => {
    const error = await hostWith(newKeys().publicKey)
      .import('authService/other')
      .catch((e: unknown) => e);
    assert.ok(error instanceof SignatureError, String(error));
    assert.match(error.message, /authService.*no pinned key verifies.*pin the key that signed it/s);
    assert.equal(canaries[BUILD_CANARY], undefined);
    // The manifest, its signature and the signature's content-addressed copy (tried when the first does not verify).
    assert.deepEqual(server.requests.filter((path) => !path.startsWith('/mf-manifest.')).length, 0);
  });

  test('with its own key pinned (alone or beside a retired one) the build loads and runs once', async () => {
    const mod = await hostWith([newKeys().publicKey, publicKey]).import<{ answer: number }>('authService/other');
    assert.equal(mod.answer, 42);
    assert.equal(canaries[BUILD_CANARY], 1);
  });
});

describe('signature failures on the host', () => {
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const cleanup of cleanups) await cleanup();
  });

  async function setup() {
    const remote = await createSignedRemote();
    const cache = await cacheDir();
    cleanups.push(async () => {
      await remote[Symbol.asyncDispose]();
      await cache.remove();
    });
    return { remote, cache };
  }

  async function refused(host: ReturnType<typeof createHost>, pattern: RegExp, remote: { runs(): number }) {
    const error = await host.import('authService/x').catch((e: unknown) => e);
    assert.ok(error instanceof SignatureError, String(error));
    assert.match(error.message, pattern);
    assert.equal(error.remote, 'authService');
    assert.equal(remote.runs(), 0, 'no remote code ran');
  }

  test('the key of another remote does not verify this one', async () => {
    const { remote, cache } = await setup();
    const billing = newKeys();
    await remote.publish({ signWith: billing.privateKey });
    await using host = createHost({
      name: 'h',
      remotes: {
        authService: { url: remote.manifestUrl, publicKey: remote.publicKey },
        billing: { url: `${remote.server.url}billing/mf-manifest.json`, publicKey: billing.publicKey },
      },
      cache: { dir: cache.dir },
      ...quiet,
    });
    await refused(host, /no pinned key verifies \(it names key ed25519:/, remote);
  });

  test('a truncated signature is refused', async () => {
    const { remote, cache } = await setup();
    const full = await readFile(join(remote.project.dir, 'mf-manifest.json.sig'));
    for (const length of [0, 20, full.byteLength >> 1, full.byteLength - 4]) {
      remote.server.override = (req, res) => {
        if (req.url !== '/mf-manifest.json.sig') return false;
        res.end(full.subarray(0, length));
        return true;
      };
      await using host = createHost({
        name: 'h',
        remotes: { authService: { url: remote.manifestUrl, publicKey: remote.publicKey } },
        cache: { dir: cache.dir },
        ...quiet,
      });
      await refused(host, /signature file that is not valid JSON|malformed signature/, remote);
    }
  });

  test('a missing signature with a key pinned is refused (fail closed)', async () => {
    const { remote, cache } = await setup();
    await remote.publish({ signWith: null });
    await using host = createHost({
      name: 'h',
      remotes: { authService: { url: remote.manifestUrl, publicKey: remote.publicKey } },
      cache: { dir: cache.dir },
      ...quiet,
    });
    await refused(host, /has no signature, and the host pins a key/, remote);
  });

  test('an edited signature file is refused even where the signature still verifies', async () => {
    const { remote, cache } = await setup();
    const original = await readFile(join(remote.project.dir, 'mf-manifest.json.sig'), 'utf8');
    const parsed = JSON.parse(original) as { signature: string };
    const other = newKeys().publicKey;
    const edits = [
      original.replace('\n', '\r\n'),
      JSON.stringify(parsed),
      original.replace(/"publicKey": "[^"]+"/, `"publicKey": "${other}"`),
      // The last base64 digit carries 4 unused bits: another spelling of the same 64 bytes.
      original.replace(/(.)==/, (_, c: string) => `${c === 'A' ? 'B' : String.fromCharCode(c.charCodeAt(0) ^ 1)}==`),
    ];
    for (const edited of edits) {
      remote.server.override = (req, res) => {
        if (req.url !== '/mf-manifest.json.sig') return false;
        res.end(edited);
        return true;
      };
      await using host = createHost({
        name: 'h',
        remotes: { authService: { url: remote.manifestUrl, publicKey: [remote.publicKey, other] } },
        cache: { dir: cache.dir },
        ...quiet,
      });
      await refused(host, /not exactly what `ferry build --sign` writes|no pinned key verifies/, remote);
    }
  });

  test('rotation: a build signed with the new key loads on a host that pins the old and the new one', async () => {
    const { remote, cache } = await setup();
    const next = newKeys();
    await remote.publish({ signWith: next.privateKey, release: 2 });
    await using host = createHost({
      name: 'h',
      remotes: { authService: { url: remote.manifestUrl, publicKey: [remote.publicKey, next.publicKey] } },
      cache: { dir: cache.dir },
      ...quiet,
    });
    assert.equal((await host.import<{ answer: number }>('authService/x')).answer, 42);
    assert.equal(remote.runs(), 2, 'container and expose ran once each');
  });
});

describe('requireSignatures', () => {
  test('an unpinned remote is an error at createHost that names it, and nothing is fetched', () => {
    const calls: string[] = [];
    const fetch: FetchLike = async (url) => {
      calls.push(url.href);
      return new Response('', { status: 503 });
    };
    const { publicKey } = newKeys();
    assert.throws(
      () =>
        createHost({
          name: 'h',
          requireSignatures: true,
          remotes: {
            authService: { url: 'http://127.0.0.1:1/mf-manifest.json', publicKey },
            billing: 'billing@http://127.0.0.1:2/mf-manifest.json',
          },
          fetch,
          ...quiet,
        }),
      (error: unknown) =>
        error instanceof InvalidOptionError &&
        error.option === 'remotes.billing.publicKey' &&
        /requireSignatures: true, so remote "billing".*ferry keygen/s.test(error.message),
    );
    assert.throws(
      () => createHost({ name: 'h', remotes: {}, requireSignatures: 'yes' as never }),
      (error: unknown) =>
        error instanceof InvalidOptionError && /requireSignatures must be true or false/.test(error.message),
    );
    assert.deepEqual(calls, []);
  });

  test('with every remote pinned the host loads; without the option an unsigned remote loads with a warning', async () => {
    await using remote = await createSignedRemote();
    await using cache = await cacheDir();
    await using strict = createHost({
      name: 'h',
      requireSignatures: true,
      remotes: { authService: { url: remote.manifestUrl, publicKey: remote.publicKey } },
      cache: { dir: cache.dir },
      ...quiet,
    });
    assert.equal((await strict.import<{ answer: number }>('authService/x')).answer, 42);

    const warnings: string[] = [];
    await using lax = createHost({
      name: 'h',
      remotes: { authService: remote.manifestUrl },
      cache: { dir: cache.dir },
      onWarning: (warning) => warnings.push(warning.code),
    });
    assert.equal((await lax.import<{ answer: number }>('authService/x')).answer, 42);
    assert.deepEqual(warnings, ['FERRY_UNSIGNED_REMOTE']);
  });
});
