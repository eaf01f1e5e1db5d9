/**
 * Production serving without ferry: a real `ferry build` output (signed) served by a real nginx (Debian's package;
 * .ci/run installs it), configured as the README's deployment section says — hashed files immutable, the manifest,
 * its signature and the container revalidated — loads in a host, and a restarted host revalidates with a 304 and
 * fetches no file bytes. The test starts its own nginx on a free loopback port with a generated config in a
 * temporary folder, and stops it. Without an nginx binary it is skipped (say so loudly: CI must not skip it).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createHost } from '../src/index.ts';
import { createRemoteProject, runFerry } from './helpers/build-fixture.ts';
import { NGINX, type RunningNginx, startNginx } from './helpers/nginx.ts';
import { createTempProject, REPO_ROOT, type TempProject } from './helpers/temp-project.ts';

describe('a ferry build output served by nginx', {
  skip: NGINX ? false : 'nginx is not installed (CI installs it: .ci/run)',
}, () => {
  let remote: TempProject;
  let nginx: RunningNginx;
  let baseUrl: string;
  let publicKey: string;

  before(async () => {
    remote = await createRemoteProject();
    const keygen = await runFerry(['keygen', '--out', 'key.pem'], { cwd: remote.dir });
    assert.equal(keygen.code, 0, keygen.stderr);
    publicKey = /ed25519:[A-Za-z0-9_-]{43}/.exec(keygen.stdout + keygen.stderr)![0];
    const built = await runFerry(['build', '--sign', 'key.pem'], { cwd: remote.dir });
    assert.equal(built.code, 0, built.stderr);
    nginx = await startNginx(remote.path('dist/federation'));
    baseUrl = nginx.url;
  });

  after(async () => {
    await nginx?.stop();
    await remote?.remove();
  });

  const accessLog = () => nginx.accessLog();

  test('serves the headers the README documents', async () => {
    const manifest = await fetch(`${baseUrl}mf-manifest.json`);
    assert.equal(manifest.status, 200);
    assert.equal(manifest.headers.get('cache-control'), 'no-cache');
    const etag = manifest.headers.get('etag');
    assert.match(etag ?? '', /^"[0-9a-f]+-[0-9a-f]+"$/, 'a strong ETag');
    const files = Object.keys(((await manifest.json()) as { ferry: { files: Record<string, unknown> } }).ferry.files);
    const hashed = files.find((name) => /\.[A-Za-z0-9_-]{8,}\.js$/.test(name))!;
    const bundle = await fetch(`${baseUrl}${hashed}`);
    await bundle.arrayBuffer();
    assert.equal(bundle.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    const again = await fetch(`${baseUrl}mf-manifest.json`, { headers: { 'if-none-match': etag! } });
    assert.equal(again.status, 304);
  });

  test('a host loads it, and a restarted host revalidates with a 304 and no file bytes', async () => {
    await using cache = await createTempProject({});
    const options = {
      name: 'h',
      remotes: { authService: { url: `${baseUrl}mf-manifest.json`, publicKey } },
      shared: { jsonwebtoken: { singleton: true } },
      root: REPO_ROOT,
      cache: { dir: cache.dir },
      onWarning: () => {},
      // This test counts requests: no live-update subscription (mf-manifest.events) or polls.
      live: { push: false, pollInterval: false as const },
    };
    const first = createHost(options);
    assert.equal((await first.import<{ answer: number }>('authService/other')).answer, 42);
    const validator = await first.import<{ maxAge: number }>('authService/tokenValidator');
    assert.equal(validator.maxAge, 86_400_000);
    await first.close();

    const before = (await accessLog()).length;
    const second = createHost(options);
    assert.equal((await second.import<{ answer: number }>('authService/other')).answer, 42);
    await second.close();
    const lines = (await accessLog()).slice(before);
    assert.equal(lines.length, 1, lines.join('\n'));
    // nginx escapes the quotes of the logged If-None-Match as \x22.
    assert.match(lines[0]!, /^\/mf-manifest\.json 304 "\\x22[0-9a-f]+-[0-9a-f]+\\x22"$/);
  });
});
