/**
 * Rollback and freeze on the host: the highest accepted release is kept in the cache folder and a lower release, or
 * the same release with other bytes, is refused — by another host on the same folder and after a real process
 * restart; a corrupt or unwritable record is a warning, never a crash; an expired manifest is refused.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { createHost, ManifestExpiredError, RollbackError } from '../src/index.ts';
import { createTempProject, REPO_ROOT } from './helpers/temp-project.ts';
import { createSignedRemote, quiet, type SignedRemote } from './helpers/trust-fixture.ts';

function signedHost(
  remote: SignedRemote,
  options: { cache?: { dir: string }; root?: string; now?: () => number } = {},
) {
  return createHost({
    name: 'userService',
    remotes: { authService: { url: remote.manifestUrl, publicKey: remote.publicKey } },
    ...options,
    ...quiet,
  });
}

async function records(cacheDir: string): Promise<Record<string, { release: number; manifest: string }>> {
  return JSON.parse(await readFile(join(cacheDir, 'releases.json'), 'utf8')).remotes;
}

describe('rollback', () => {
  test('a lower release, or the same release with other bytes, is refused by the next host on the same cache.dir', async () => {
    await using remote = await createSignedRemote({ release: 5 });
    await using cache = await createTempProject({});
    assert.equal(
      (await signedHost(remote, { cache: { dir: cache.dir } }).import<{ answer: number }>('authService/x')).answer,
      42,
    );
    const accepted = await remote.files();
    const key = `authService@${new URL(remote.server.url).origin}`;
    assert.equal((await records(cache.dir))[key]?.release, 5);
    remote.resetRuns();

    await remote.publish({ release: 3 });
    const lower = await signedHost(remote, { cache: { dir: cache.dir } })
      .import('authService/x')
      .catch((e: unknown) => e);
    assert.ok(lower instanceof RollbackError, String(lower));
    assert.equal(lower.code, 'ERR_FERRY_ROLLBACK');
    assert.equal(lower.release, 3);
    assert.equal(lower.acceptedRelease, 5);
    assert.match(lower.message, /release 3, lower than release 5.*Rebuild the remote with a release higher than 5/s);

    await remote.publish({ release: 5, exposes: { './x': { code: 'exports.answer = "swapped";' } } });
    const swapped = await signedHost(remote, { cache: { dir: cache.dir } })
      .import('authService/x')
      .catch((e: unknown) => e);
    assert.ok(swapped instanceof RollbackError, String(swapped));
    assert.match(swapped.message, /release 5, the same release .* but different bytes/s);
    assert.equal(remote.runs(), 0, 'no refused code ran');

    // The very manifest that was accepted is accepted again (a restart re-fetches it).
    remote.server.override = (req, res) => {
      const bytes = accepted.get(new URL(req.url ?? '/', 'http://x').pathname.slice(1));
      if (!bytes) return false;
      res.end(bytes);
      return true;
    };
    assert.equal(
      (await signedHost(remote, { cache: { dir: cache.dir } }).import<{ answer: number }>('authService/x')).answer,
      42,
    );
    remote.server.override = undefined;

    await remote.publish({ release: 6, exposes: { './x': { code: 'exports.answer = 6;' } } });
    assert.equal(
      (await signedHost(remote, { cache: { dir: cache.dir } }).import<{ answer: number }>('authService/x')).answer,
      6,
    );
    assert.equal((await records(cache.dir))[key]?.release, 6);
  });

  test('a refused update does not raise the floor or become the cached copy: the build that served before still starts and can be redeployed', async () => {
    await using remote = await createSignedRemote({ release: 5 });
    await using cache = await createTempProject({});
    const accepted = await remote.files();
    const key = `authService@${new URL(remote.server.url).origin}`;
    await using host = createHost({
      name: 'userService',
      remotes: { authService: { url: remote.manifestUrl, publicKey: remote.publicKey } },
      cache: { dir: cache.dir },
      live: {
        pollInterval: false,
        push: false,
        healthCheck: async ({ import: load }) => ((await load('./x')) as { answer: unknown }).answer === 42,
      },
      ...quiet,
    });
    assert.equal((await host.import<{ answer: number }>('authService/x')).answer, 42);

    // Release 6 is signed and current, but fails the host's health check: it never becomes current.
    await remote.publish({ release: 6, exposes: { './x': { code: 'exports.answer = "broken";' } } });
    const [outcome] = await host.update('authService');
    assert.equal(outcome?.status, 'refused');
    assert.equal((await records(cache.dir))[key]?.release, 5, 'the refused release is not recorded');
    await host.close();

    // Nor is it the copy a restarted host starts from while the remote is down: that is release 5, which served.
    remote.server.override = (req) => {
      req.socket.destroy();
      return true;
    };
    const fromCache = signedHost(remote, { cache: { dir: cache.dir } });
    assert.equal((await fromCache.import<{ answer: unknown }>('authService/x')).answer, 42);
    assert.equal(fromCache.remotes().authService?.source, 'cache');
    await fromCache.close();

    // The operator redeploys the build that served before (release 5): a restarted host loads it.
    remote.server.override = (req, res) => {
      const bytes = accepted.get(new URL(req.url ?? '/', 'http://x').pathname.slice(1));
      if (!bytes) return false;
      res.end(bytes);
      return true;
    };
    const restarted = signedHost(remote, { cache: { dir: cache.dir } });
    assert.equal((await restarted.import<{ answer: number }>('authService/x')).answer, 42);
    await restarted.close();
    remote.server.override = undefined;
  });

  test('after a process restart the record still refuses an older release', async () => {
    await using remote = await createSignedRemote({ release: 10 });
    await using cache = await createTempProject({});
    const script = `
      import { createHost } from ${JSON.stringify(pathToFileURL(join(REPO_ROOT, 'src/index.ts')).href)};
      await using host = createHost({
        name: 'userService',
        remotes: { authService: { url: process.env.URL, publicKey: process.env.KEY } },
        cache: { dir: process.env.CACHE },
        onWarning: () => {},
      });
      try {
        const mod = await host.import('authService/x');
        console.log('loaded', mod.answer);
      } catch (error) {
        console.log('refused', error.code, error.release, error.acceptedRelease);
      }
    `;
    const run = () =>
      new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
          env: { ...process.env, URL: remote.manifestUrl, KEY: remote.publicKey, CACHE: cache.dir },
        });
        let out = '';
        let err = '';
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
          out += chunk;
        });
        child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
          err += chunk;
        });
        child.on('error', reject);
        child.on('close', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`exit ${code}: ${err}`))));
      });
    assert.equal(await run(), 'loaded 42');
    await remote.publish({ release: 9 });
    assert.equal(await run(), 'refused ERR_FERRY_ROLLBACK 9 10');
    // And a host in this process, started after both, agrees.
    const error = await signedHost(remote, { cache: { dir: cache.dir } })
      .import('authService/x')
      .catch((e: unknown) => e);
    assert.ok(error instanceof RollbackError, String(error));
    assert.equal(remote.runs(), 0);
  });

  test('a corrupt record is a warning and is treated as empty, then rewritten', async () => {
    await using remote = await createSignedRemote({ release: 7 });
    await using cache = await createTempProject({ 'releases.json': '{"formatVersion": 1, "remotes": {"a@b": 12' });
    const warnings: Array<{ code: string; message: string }> = [];
    await using host = createHost({
      name: 'userService',
      remotes: { authService: { url: remote.manifestUrl, publicKey: remote.publicKey } },
      cache: { dir: cache.dir },
      onWarning: (warning) => warnings.push(warning),
    });
    assert.equal(warnings[0]?.code, 'FERRY_CACHE_CORRUPT');
    assert.match(warnings[0]!.message, /releases\.json could not be read.*treated as empty/s);
    assert.equal((await host.import<{ answer: number }>('authService/x')).answer, 42);
    assert.equal(Object.values(await records(cache.dir))[0]?.release, 7);

    await writeFile(
      join(cache.dir, 'releases.json'),
      JSON.stringify({ formatVersion: 1, remotes: { x: { release: 'a' } } }),
    );
    const again: string[] = [];
    createHost({ name: 'h', remotes: {}, cache: { dir: cache.dir }, onWarning: (w) => again.push(w.code) });
    assert.deepEqual(again, ['FERRY_CACHE_CORRUPT']);
  });

  test('a record that cannot be written is a warning; the host keeps working', async () => {
    await using remote = await createSignedRemote();
    await using cache = await createTempProject({ 'not-a-folder': 'x' });
    const warnings: string[] = [];
    await using host = createHost({
      name: 'userService',
      remotes: { authService: { url: remote.manifestUrl, publicKey: remote.publicKey } },
      cache: { dir: cache.path('not-a-folder') },
      onWarning: (warning) => warnings.push(warning.code),
    });
    assert.equal((await host.import<{ answer: number }>('authService/x')).answer, 42);
    assert.deepEqual(warnings, ['FERRY_CACHE_UNREADABLE', 'FERRY_CACHE_WRITE']);
  });

  test('the default cache.dir is .ferry-cache under root, or $FERRY_CACHE_DIR; unsigned releases are not persisted', async () => {
    await using remote = await createSignedRemote({ release: 4 });
    await using root = await createTempProject({});
    await signedHost(remote, { root: root.dir }).import('authService/x');
    assert.equal(Object.values(await records(root.path('.ferry-cache')))[0]?.release, 4);

    await using fromEnv = await createTempProject({});
    const previous = process.env['FERRY_CACHE_DIR'];
    process.env['FERRY_CACHE_DIR'] = fromEnv.dir;
    try {
      await signedHost(remote, { root: root.dir }).import('authService/x');
      await using unsigned = createHost({ name: 'h', remotes: { authService: remote.manifestUrl }, ...quiet });
      await unsigned.import('authService/x');
    } finally {
      if (previous === undefined) delete process.env['FERRY_CACHE_DIR'];
      else process.env['FERRY_CACHE_DIR'] = previous;
    }
    const written = await records(fromEnv.dir);
    assert.deepEqual(Object.keys(written), [`authService@${new URL(remote.server.url).origin}`]);
  });
});

describe('freeze', () => {
  test('an expired manifest is refused, naming the expiry and the fix, and is not recorded', async () => {
    const expires = new Date(Date.now() - 60_000).toISOString();
    await using remote = await createSignedRemote({ expires });
    await using cache = await createTempProject({});
    const error = await signedHost(remote, { cache: { dir: cache.dir } })
      .import('authService/x')
      .catch((e: unknown) => e);
    assert.ok(error instanceof ManifestExpiredError, String(error));
    assert.equal(error.code, 'ERR_FERRY_MANIFEST_EXPIRED');
    assert.equal(error.expires, expires);
    assert.ok(error.message.includes(`expired at ${expires}`), error.message);
    assert.match(error.message, /Rebuild the remote with `ferry build` \(signed, with a new expiry/);
    assert.equal(remote.runs(), 0);
    await assert.rejects(readFile(join(cache.dir, 'releases.json')), { code: 'ENOENT' });
  });

  test("the host's clock decides (now is injectable), for unsigned remotes too", async () => {
    const day = 86_400_000;
    await using remote = await createSignedRemote({ expires: new Date(Date.now() + day).toISOString() });
    await using cache = await createTempProject({});
    const later = () => Date.now() + 2 * day;
    await assert.rejects(
      signedHost(remote, { cache: { dir: cache.dir }, now: later }).import('authService/x'),
      ManifestExpiredError,
    );
    await using unsigned = createHost({
      name: 'h',
      remotes: { authService: remote.manifestUrl },
      now: later,
      cache: { dir: cache.dir },
      ...quiet,
    });
    await assert.rejects(unsigned.import('authService/x'), ManifestExpiredError);
    assert.equal(remote.runs(), 0);
    assert.equal(
      (await signedHost(remote, { cache: { dir: cache.dir } }).import<{ answer: number }>('authService/x')).answer,
      42,
    );
  });
});
