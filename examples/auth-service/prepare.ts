/**
 * Creates the auth service's keys on first use (they live in `.keys/`, which git ignores) and writes the JWT public
 * key into `src/jwt-public-key.generated.ts` (also ignored) so the build bundles it into the validator.
 *
 * Two key pairs, two jobs:
 * - `jwt-private-key.pem` (EC P-256): the auth service signs login tokens with it (ES256). It never leaves this
 *   service; hosts receive only the public key, inside the federation bundle.
 * - `ferry-signing-key.pem` (Ed25519): `ferry build` signs the manifest with it; hosts pin the public key printed
 *   into `ferry-public-key.txt`, so they run only code this service built.
 *
 * Safe to run concurrently (tests and `npm start` may overlap): a key file is created with a link, which fails if
 * another process got there first, and the files derived from it are replaced atomically with a rename.
 *
 * @example
 * ```ts
 * import { prepareKeys } from './prepare.ts';
 * const { ferryPublicKey } = await prepareKeys();
 * ```
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { link, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateSigningKeys, parsePrivateKey, publicKeyOf } from 'ferry/manifest';

/** This service's folder (where ferry.config.ts is). */
export const AUTH_SERVICE_ROOT = import.meta.dirname;
/** Where the keys are kept. */
export const KEYS_DIR = join(AUTH_SERVICE_ROOT, '.keys');
export const JWT_PRIVATE_KEY_FILE = join(KEYS_DIR, 'jwt-private-key.pem');
export const FERRY_SIGNING_KEY_FILE = join(KEYS_DIR, 'ferry-signing-key.pem');
export const FERRY_PUBLIC_KEY_FILE = join(KEYS_DIR, 'ferry-public-key.txt');
const GENERATED_PUBLIC_KEY_MODULE = join(AUTH_SERVICE_ROOT, 'src', 'jwt-public-key.generated.ts');

/** Ensures both key pairs exist and the derived public files are current; returns the ferry public key string. */
export async function prepareKeys(): Promise<{ ferryPublicKey: string }> {
  await mkdir(KEYS_DIR, { recursive: true, mode: 0o700 });

  const jwtPem = await createOnce(JWT_PRIVATE_KEY_FILE, () =>
    generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  );
  const jwtPublicPem = createPublicKey(createPrivateKey(jwtPem)).export({ type: 'spki', format: 'pem' }).toString();
  await replace(
    GENERATED_PUBLIC_KEY_MODULE,
    '// Written by prepare.ts from .keys/jwt-private-key.pem. Do not edit; not committed.\n' +
      `export const JWT_PUBLIC_KEY = ${JSON.stringify(jwtPublicPem)};\n`,
  );

  const signingPem = await createOnce(FERRY_SIGNING_KEY_FILE, () => generateSigningKeys().privateKeyPem);
  const ferryPublicKey = publicKeyOf(parsePrivateKey(signingPem, FERRY_SIGNING_KEY_FILE));
  await replace(FERRY_PUBLIC_KEY_FILE, `${ferryPublicKey}\n`);
  return { ferryPublicKey };
}

/** Returns the file's contents, creating it from `make()` first if it does not exist. */
async function createOnce(file: string, make: () => string): Promise<string> {
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, make(), { mode: 0o600 });
  try {
    await link(temp, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await rm(temp, { force: true });
  }
  return readFile(file, 'utf8');
}

/** Writes a file so that readers see the old or the new contents, never half of it. */
async function replace(file: string, contents: string): Promise<void> {
  await mkdir(join(file, '..'), { recursive: true });
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, contents);
  await rename(temp, file);
}

if (import.meta.main) {
  const { ferryPublicKey } = await prepareKeys();
  console.log(`keys ready in ${KEYS_DIR}; hosts pin ${ferryPublicKey}`);
}
