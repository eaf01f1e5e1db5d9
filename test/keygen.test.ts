/** `ferry keygen`: a private key file only its owner can read, never printed, never silently replaced. */
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { parsePrivateKey, publicKeyOf } from '../src/manifest/index.ts';
import { runFerry } from './helpers/build-fixture.ts';
import { createTempProject, REPO_ROOT } from './helpers/temp-project.ts';

test('writes a PKCS#8 Ed25519 key with mode 0600 and prints only its public key', async () => {
  await using dir = await createTempProject({});
  const result = await runFerry(['keygen'], { cwd: dir.dir });
  assert.equal(result.code, 0, result.stderr);
  const file = dir.path('ferry-signing-key.pem');
  const pem = await readFile(file, 'utf8');
  assert.match(pem, /^-----BEGIN PRIVATE KEY-----\n/);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  const publicKey = publicKeyOf(parsePrivateKey(pem, file));
  assert.ok(result.stdout.includes(`Public key: ${publicKey}`), result.stdout);
  assert.match(result.stdout, /publicKey/);
  assert.ok(!result.stdout.includes('PRIVATE KEY') && !result.stderr.includes('PRIVATE KEY'));
  const body = pem.split('\n')[1]!;
  assert.ok(!result.stdout.includes(body), 'the private key is never printed');
});

test('refuses to overwrite without --force, and replaces with --force (still 0600)', async () => {
  await using dir = await createTempProject({ 'keys/k.pem': 'old' });
  const refused = await runFerry(['keygen', '--out', 'keys/k.pem'], { cwd: dir.dir });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /keys\/k\.pem already exists\. Pass --force/);
  assert.match(refused.stderr, /ERR_FERRY_INVALID_OPTION/);
  assert.equal(await readFile(dir.path('keys/k.pem'), 'utf8'), 'old');

  const forced = await runFerry(['keygen', '--out', 'keys/k.pem', '--force'], { cwd: dir.dir });
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(await readFile(dir.path('keys/k.pem'), 'utf8'), /BEGIN PRIVATE KEY/);
  assert.equal((await stat(dir.path('keys/k.pem'))).mode & 0o777, 0o600);
});

test('unknown options exit 2 with a hint', async () => {
  await using dir = await createTempProject({});
  const result = await runFerry(['keygen', '--bogus'], { cwd: dir.dir });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /ferry keygen --help/);
});

test("keygen's advice on keys from environment variables is the README's: with process.env, set requireSignatures", async () => {
  await using dir = await createTempProject({});
  const result = await runFerry(['keygen'], { cwd: dir.dir });
  assert.equal(result.code, 0, result.stderr);
  const printed = result.stdout.replace(/\s+/g, ' ');
  const readme = (await readFile(join(REPO_ROOT, 'README.md'), 'utf8')).replace(/\s+/g, ' ');
  const signing = readme.slice(readme.indexOf('### Signing'), readme.indexOf('## Reference'));
  for (const [where, text] of [
    ['ferry keygen', printed],
    ["the README's Signing section", signing],
  ] as const) {
    assert.match(text, /publicKey: process\.env\.\w+/, `${where} shows a key read from the environment`);
    assert.match(text, /also set `?requireSignatures: true`? on the host/, `${where} says to set requireSignatures`);
    assert.match(text, /an unset variable is no key/, `${where} says why`);
  }
});
