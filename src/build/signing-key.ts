/**
 * Where the build's signing key comes from: the `sign` option of buildRemote (the CLI's `--sign`), else the
 * FERRY_SIGNING_KEY environment variable (PEM text or a path to a PEM file, so CI can use a secret either way),
 * else the config's `sign`. The first one set wins; no key means an unsigned build.
 */
import type { KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { InvalidOptionError } from '../common/errors.ts';
import { parsePrivateKey } from '../manifest/index.ts';

/** The environment variable holding a signing key (PEM text) or the path of one. */
export const SIGNING_KEY_ENV = 'FERRY_SIGNING_KEY';

/** A loaded signing key and where it came from, for messages. */
export interface SigningKey {
  key: KeyObject;
  source: string;
}

async function readKeyFile(file: string, option: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (cause) {
    throw new InvalidOptionError(
      `${option} names the signing key ${file}, which cannot be read (${(cause as NodeJS.ErrnoException).code ?? cause}). ` +
        'Fix the path, or create a key with `ferry keygen`.',
      { option: 'sign', file, cause },
    );
  }
}

/**
 * Loads the signing key to use, if any.
 *
 * @example
 * ```ts
 * const signing = await loadSigningKey({ sign: 'keys/ferry.pem', root, env: process.env });
 * if (signing) signManifest(bytes, signing.key);
 * ```
 */
export async function loadSigningKey(options: {
  /** A path given to buildRemote or on the command line (relative to `root`). */
  sign?: string;
  /** The config's `sign`, already absolute. */
  configSign?: string;
  /** How the config file is named in messages (`ferry.config.ts`). */
  configLabel?: string;
  root: string;
  env?: NodeJS.ProcessEnv;
}): Promise<SigningKey | undefined> {
  if (options.sign !== undefined) {
    const file = resolve(options.root, options.sign);
    return { key: parsePrivateKey(await readKeyFile(file, '--sign'), file), source: file };
  }
  const fromEnv = options.env?.[SIGNING_KEY_ENV]?.trim();
  if (fromEnv) {
    if (fromEnv.startsWith('-----BEGIN')) {
      return { key: parsePrivateKey(fromEnv, SIGNING_KEY_ENV), source: SIGNING_KEY_ENV };
    }
    const file = resolve(fromEnv);
    return { key: parsePrivateKey(await readKeyFile(file, SIGNING_KEY_ENV), file), source: file };
  }
  if (options.configSign !== undefined) {
    const option = options.configLabel ? `${options.configLabel}: sign` : 'sign';
    return {
      key: parsePrivateKey(await readKeyFile(options.configSign, option), options.configSign),
      source: options.configSign,
    };
  }
  return undefined;
}
