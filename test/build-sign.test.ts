/** Signed builds: `--sign`, FERRY_SIGNING_KEY (PEM text or path) and the config's `sign`, checked by the verifier. */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  isSignatureFileCopy,
  MANIFEST_FILE,
  SIGNATURE_FILE,
  signatureFileFor,
  verifyManifestSignature,
} from '../src/manifest/index.ts';
import { CONFIG_TS, createRemoteProject, runFerry } from './helpers/build-fixture.ts';

const OUT = join('dist', 'federation');

async function keygen(cwd: string, file: string): Promise<string> {
  const result = await runFerry(['keygen', '--out', file], { cwd });
  assert.equal(result.code, 0, result.stderr);
  const key = /Public key: (ed25519:\S+)/.exec(result.stdout)?.[1];
  assert.ok(key, result.stdout);
  return key;
}

async function assertSignedBy(dir: string, publicKey: string): Promise<void> {
  const manifest = await readFile(join(dir, OUT, MANIFEST_FILE));
  const signature = await readFile(join(dir, OUT, SIGNATURE_FILE));
  const details = { remote: 'authService', url: 'test' };
  assert.equal(verifyManifestSignature(manifest, signature, [publicKey], details), publicKey);
}

test('--sign <file> signs the exact manifest bytes, and the summary prints the public key', async () => {
  await using project = await createRemoteProject();
  const publicKey = await keygen(project.dir, 'keys/ferry.pem');
  const result = await runFerry(['build', '--sign', 'keys/ferry.pem'], { cwd: project.dir });
  assert.equal(result.code, 0, result.stderr);
  assert.ok(result.stdout.includes(publicKey), result.stdout);
  assert.match(result.stdout, /mf-manifest\.json\.sig/);
  await assertSignedBy(project.dir, publicKey);
});

test('FERRY_SIGNING_KEY may hold the PEM text or a path to the PEM file', async () => {
  await using project = await createRemoteProject();
  const publicKey = await keygen(project.dir, 'ferry-signing-key.pem');
  const pem = await readFile(project.path('ferry-signing-key.pem'), 'utf8');

  const byText = await runFerry(['build'], { cwd: project.dir, env: { FERRY_SIGNING_KEY: pem } });
  assert.equal(byText.code, 0, byText.stderr);
  assert.ok(!byText.stdout.includes('PRIVATE KEY'));
  await assertSignedBy(project.dir, publicKey);

  const byPath = await runFerry(['build'], {
    cwd: project.dir,
    env: { FERRY_SIGNING_KEY: project.path('ferry-signing-key.pem') },
  });
  assert.equal(byPath.code, 0, byPath.stderr);
  await assertSignedBy(project.dir, publicKey);
});

test("the config's sign option signs, and --sign takes precedence over it", async () => {
  await using project = await createRemoteProject({
    'ferry.config.ts': CONFIG_TS.replace("name: 'authService',", "name: 'authService', sign: './keys/config.pem',"),
  });
  const configKey = await keygen(project.dir, 'keys/config.pem');
  const cliKey = await keygen(project.dir, 'keys/cli.pem');
  assert.equal((await runFerry(['build'], { cwd: project.dir })).code, 0);
  await assertSignedBy(project.dir, configKey);
  assert.equal((await runFerry(['build', '--sign', 'keys/cli.pem'], { cwd: project.dir })).code, 0);
  await assertSignedBy(project.dir, cliKey);
});

test('a key that is not a PEM private key fails before anything is written', async () => {
  await using project = await createRemoteProject({ 'bad.pem': 'not a key' });
  const result = await runFerry(['build', '--sign', 'bad.pem'], { cwd: project.dir });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /bad\.pem is not a PEM private key.*ferry keygen/);
  await assert.rejects(readFile(project.path(OUT, MANIFEST_FILE)), { code: 'ENOENT' });
  const fromEnv = await runFerry(['build'], { cwd: project.dir, env: { FERRY_SIGNING_KEY: '-----BEGIN nonsense' } });
  assert.equal(fromEnv.code, 1);
  assert.match(fromEnv.stderr, /FERRY_SIGNING_KEY is not a PEM private key/);
});

test('the signature is also written under the name of the manifest it signs; kept releases keep theirs, prune removes them', async () => {
  await using project = await createRemoteProject();
  await keygen(project.dir, 'keys/ferry.pem');
  const copies: string[] = [];
  for (const answer of [1, 2, 3]) {
    await project.write('src/other.ts', `export const answer: number = ${answer};\n`);
    const result = await runFerry(['build', '--sign', 'keys/ferry.pem'], { cwd: project.dir });
    assert.equal(result.code, 0, result.stderr);
    const manifest = await readFile(project.path(OUT, MANIFEST_FILE));
    const copy = signatureFileFor(manifest);
    assert.match(copy, /^mf-manifest\.[0-9a-f]{32}\.sig$/);
    assert.deepEqual(await readFile(project.path(OUT, copy)), await readFile(project.path(OUT, SIGNATURE_FILE)));
    copies.push(copy);
  }
  let onDisk = (await readdir(project.path(OUT))).filter(isSignatureFileCopy).sort();
  assert.deepEqual(onDisk, [...copies].sort(), 'every kept release keeps the copy of its signature');
  const pruned = await runFerry(['release', 'prune', '--keep', '2', '--out', OUT], { cwd: project.dir });
  assert.equal(pruned.code, 0, pruned.stdout + pruned.stderr);
  onDisk = (await readdir(project.path(OUT))).filter(isSignatureFileCopy).sort();
  assert.deepEqual(onDisk, copies.slice(1).sort(), 'the current and the previous copy, not the oldest');
});
