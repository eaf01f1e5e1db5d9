/**
 * `ferry verify`, spawned as the real CLI (run `npm run build` first): a signed `ferry build --sign` output checks
 * out as a folder and as a live remote; a wrong key, changed or missing files, an expired or unsigned manifest are
 * reported one line each, with exit code 1.
 */
import assert from 'node:assert/strict';
import { appendFile, readFile, rm, writeFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import type { Manifest } from '../src/manifest/index.ts';
import { createRemoteProject, runFerry } from './helpers/build-fixture.ts';
import { startLoopback } from './helpers/loopback.ts';
import { writeRemoteOutput } from './helpers/remote-output.ts';
import { createTempProject, type TempProject } from './helpers/temp-project.ts';
import { createSignedRemote, newKeys } from './helpers/trust-fixture.ts';

const OUT = 'dist/federation';
const failures = (stdout: string) => stdout.split('\n').filter((line) => line.startsWith('FAIL  '));

describe('ferry verify on a real signed build', () => {
  let project: TempProject;
  let publicKey: string;
  let manifest: Manifest;

  before(async () => {
    project = await createRemoteProject();
    const keygen = await runFerry(['keygen', '--out', 'keys/auth.pem'], { cwd: project.dir });
    publicKey = /Public key: (ed25519:\S+)/.exec(keygen.stdout)![1]!;
    const build = await runFerry(['build', '--sign', 'keys/auth.pem'], { cwd: project.dir });
    assert.equal(build.code, 0, build.stderr);
    manifest = JSON.parse(await readFile(project.path(OUT, 'mf-manifest.json'), 'utf8'));
  });
  after(() => project.remove());

  test('a good folder, with its key: every check is ok and the exit code is 0', async () => {
    const result = await runFerry(['verify', OUT, '--key', publicKey], { cwd: project.dir });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.ok(result.stdout.includes(`ok    signature by pinned key ${publicKey}`), result.stdout);
    assert.match(result.stdout, /ok {4}manifest of authService 1\.2\.0, release \d+/);
    assert.match(result.stdout, /ok {4}expires .* \(in 89 days\)/);
    for (const file of Object.keys(manifest.ferry.files))
      assert.ok(result.stdout.includes(`ok    file ${file} (`), file);
    assert.match(result.stdout, /all good/);
    assert.deepEqual(failures(result.stdout), []);
    // Not listed, each compared with what it copies.
    assert.ok(result.stdout.includes(`ok    file remoteEntry.js (same bytes as ${manifest.ferry.remoteEntry})`));
    assert.match(result.stdout, /ok {4}file mf-manifest\.[0-9a-f]{32}\.sig \(same bytes as mf-manifest\.json\.sig\)/);
    assert.doesNotMatch(result.stdout, /note {2}file (remoteEntry\.js|mf-manifest\.)/);
  });

  test('a remoteEntry.js that is not the listed container is a failure', async () => {
    await using copy = await createTempProject({});
    for (const name of ['mf-manifest.json', 'mf-manifest.json.sig', ...Object.keys(manifest.ferry.files)]) {
      await writeFile(copy.path(name), await readFile(project.path(OUT, name)));
    }
    const plain = await runFerry(['verify', '.', '-k', publicKey], { cwd: copy.dir });
    assert.equal(plain.code, 0, plain.stdout);
    assert.match(plain.stdout, /note {2}file remoteEntry\.js is not there/);
    await writeFile(copy.path('remoteEntry.js'), 'exports.get = () => Promise.reject(new Error("old build"));\n');
    const result = await runFerry(['verify', '.', '-k', publicKey], { cwd: copy.dir });
    assert.equal(result.code, 1);
    assert.deepEqual(failures(result.stdout).length, 1, result.stdout);
    assert.match(
      failures(result.stdout)[0]!,
      /^FAIL {2}file remoteEntry\.js: not the same bytes as remoteEntry\.[0-9a-f]{10}\.js/,
    );
  });

  test('without a key it says the signature was not verified (and still checks everything else)', async () => {
    const result = await runFerry(['verify'], { cwd: project.dir });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /note {2}signature present but not verified: pass --key/);
  });

  test('the key of someone else, or a malformed key', async () => {
    const wrong = await runFerry(['verify', OUT, '--key', newKeys().publicKey], { cwd: project.dir });
    assert.equal(wrong.code, 1);
    assert.equal(failures(wrong.stdout).length, 1, wrong.stdout);
    assert.match(failures(wrong.stdout)[0]!, /^FAIL {2}signature: .*no pinned key verifies.*\[ERR_FERRY_SIGNATURE\]$/);
    const malformed = await runFerry(['verify', OUT, '--key', 'abc'], { cwd: project.dir });
    assert.equal(malformed.code, 1);
    assert.match(malformed.stderr, /--key must be a ferry public key.*\[ERR_FERRY_INVALID_OPTION\]/);
  });

  test('as a live remote: by base URL, then with a changed and a missing file', async () => {
    await using server = await startLoopback(project.path(OUT));
    const good = await runFerry(['verify', server.url, '--key', publicKey], { cwd: project.dir });
    assert.equal(good.code, 0, good.stdout + good.stderr);
    assert.ok(good.stdout.startsWith(`ferry verify: ${server.url}mf-manifest.json\n`), good.stdout);

    const [changed, missing] = Object.keys(manifest.ferry.files).filter((name) => name.endsWith('.js'));
    server.override = (req, res) => {
      if (req.url === `/${changed}`) {
        res.end('globalThis.pwned = true;'.padEnd(manifest.ferry.files[changed!]!.size, ' '));
        return true;
      }
      if (req.url === `/${missing}`) {
        res.writeHead(404).end('<html>Not found</html>');
        return true;
      }
      return false;
    };
    const bad = await runFerry(['verify', `${server.url}mf-manifest.json`, '--key', publicKey], { cwd: project.dir });
    assert.equal(bad.code, 1);
    const lines = failures(bad.stdout);
    assert.equal(lines.length, 2, bad.stdout);
    assert.ok(lines.some((line) => line.startsWith(`FAIL  file ${changed}: sha384 is sha384-`)));
    assert.ok(lines.some((line) => line.startsWith(`FAIL  file ${missing}: missing`)));
    assert.match(bad.stdout, /2 problems found/);
  });

  test('changed, grown and deleted files in a folder are reported one line each', async () => {
    await using copy = await createTempProject({});
    const files = Object.keys(manifest.ferry.files);
    for (const name of ['mf-manifest.json', 'mf-manifest.json.sig', ...files]) {
      await writeFile(copy.path(name), await readFile(project.path(OUT, name)));
    }
    const [grown, flipped, deleted] = files;
    await appendFile(copy.path(grown!), '\n');
    const bytes = await readFile(copy.path(flipped!));
    bytes[0] = bytes[0]! ^ 1;
    await writeFile(copy.path(flipped!), bytes);
    await rm(copy.path(deleted!));
    await writeFile(copy.path('stray.txt'), 'x');
    const result = await runFerry(['verify', copy.path('mf-manifest.json'), '-k', publicKey], { cwd: copy.dir });
    assert.equal(result.code, 1);
    const lines = failures(result.stdout);
    assert.equal(lines.length, 3, result.stdout);
    assert.ok(
      lines.some((line) => line.startsWith(`FAIL  file ${grown}: ${manifest.ferry.files[grown!]!.size + 1} bytes`)),
    );
    assert.ok(lines.some((line) => line.startsWith(`FAIL  file ${flipped}: sha384 is`)));
    assert.ok(lines.some((line) => line.startsWith(`FAIL  file ${deleted}: missing`)));
    assert.match(result.stdout, /note {2}file stray\.txt is not in the manifest/);
  });
});

describe('ferry verify on hand-built outputs', () => {
  test('an expired manifest fails with its expiry and the fix', async () => {
    const expires = new Date(Date.now() - 3_600_000).toISOString();
    await using remote = await createSignedRemote({ expires });
    const result = await runFerry(['verify', remote.project.dir, '--key', remote.publicKey], {
      cwd: remote.project.dir,
    });
    assert.equal(result.code, 1);
    const lines = failures(result.stdout);
    assert.equal(lines.length, 1, result.stdout);
    assert.ok(lines[0]!.includes(`expired at ${expires}`), lines[0]);
    assert.match(lines[0]!, /Rebuild the remote .*\[ERR_FERRY_MANIFEST_EXPIRED\]$/);
  });

  test('an unsigned output: a note without --key, a failure with it', async () => {
    await using project = await createTempProject({});
    await writeRemoteOutput(project.dir, { name: 'authService', exposes: { './x': { code: 'exports.a = 1;' } } });
    const plain = await runFerry(['verify', '.'], { cwd: project.dir });
    assert.equal(plain.code, 0, plain.stdout);
    assert.match(plain.stdout, /note {2}unsigned: there is no signature file/);
    const pinned = await runFerry(['verify', '.', '--key', newKeys().publicKey], { cwd: project.dir });
    assert.equal(pinned.code, 1);
    assert.match(failures(pinned.stdout)[0]!, /has no signature, and the host pins a key/);
  });

  test('no manifest, an invalid manifest, a remote that is down, and usage errors', async () => {
    await using project = await createTempProject({ 'broken/mf-manifest.json': '{"name": 1}' });
    const none = await runFerry(['verify', 'nowhere'], { cwd: project.dir });
    assert.equal(none.code, 1);
    assert.match(none.stdout, /FAIL {2}manifest: there is no mf-manifest\.json at .*nowhere/);
    const broken = await runFerry(['verify', 'broken'], { cwd: project.dir });
    assert.equal(broken.code, 1);
    assert.match(broken.stdout, /FAIL {2}manifest: Invalid manifest .*\[ERR_FERRY_INVALID_MANIFEST\]/);
    const down = await runFerry(['verify', 'http://127.0.0.1:9/', '--timeout', '2000'], { cwd: project.dir });
    assert.equal(down.code, 1);
    assert.match(down.stdout, /FAIL {2}manifest: Could not fetch .*\[ERR_FERRY_NETWORK\]/);
    const two = await runFerry(['verify', 'a', 'b'], { cwd: project.dir });
    assert.equal(two.code, 2);
    const help = await runFerry(['--help'], { cwd: project.dir });
    assert.match(help.stdout, /ferry verify/);
  });
});
