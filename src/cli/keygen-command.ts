/**
 * `ferry keygen`: writes a new Ed25519 private key (PKCS#8 PEM, mode 0600) and prints the public key hosts pin.
 * The private key is never printed, so it does not end up in terminal scrollback or CI logs.
 */
import { chmod, mkdir, open } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { InvalidOptionError } from '../common/errors.ts';
import { generateSigningKeys } from '../manifest/index.ts';

const HELP = `Usage: ferry keygen [options]

Writes a new Ed25519 signing key for \`ferry build --sign\` and prints its public key, which hosts pin.

Options:
  -o, --out <file>  where to write the private key (default: ferry-signing-key.pem)
  -f, --force       replace an existing key file (hosts pinning the old public key will refuse new builds)
  -h, --help        show this help
`;

/** The default key file name, in the current folder. */
export const DEFAULT_KEY_FILE = 'ferry-signing-key.pem';

/**
 * Runs `ferry keygen` with its arguments and resolves to the exit code.
 *
 * @example
 * ```ts
 * process.exitCode = await runKeygen(['--out', 'keys/auth.pem']);
 * ```
 */
export async function runKeygen(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      out: { type: 'string', short: 'o' },
      force: { type: 'boolean', short: 'f' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const file = resolve(values.out ?? DEFAULT_KEY_FILE);
  const { privateKeyPem, publicKey } = generateSigningKeys();
  await mkdir(dirname(file), { recursive: true });
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    // 'wx' refuses to follow or replace an existing file; the mode applies only when the file is created.
    handle = await open(file, values.force ? 'w' : 'wx', 0o600);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new InvalidOptionError(
        `${file} already exists. Pass --force to replace it (hosts pinning its public key will then refuse new ` +
          'builds), or choose another file with --out.',
        { option: 'out', file, cause },
      );
    }
    throw new InvalidOptionError(`Cannot write the key file ${file}: ${(cause as Error).message}`, {
      option: 'out',
      file,
      cause,
    });
  }
  try {
    await handle.writeFile(privateKeyPem);
  } finally {
    await handle.close();
  }
  // A replaced file keeps its old mode: make sure the private key is readable by its owner only.
  await chmod(file, 0o600);
  const shown = relative(process.cwd(), file) || file;
  process.stdout.write(
    [
      `Wrote the private signing key to ${shown} (mode 0600). Keep it secret; do not commit it.`,
      '',
      `Public key: ${publicKey}`,
      '',
      `Sign builds:   ferry build --sign ${shown}   (or set FERRY_SIGNING_KEY to the PEM text or the file path)`,
      'Pin on hosts:  createHost({ remotes: { myRemote: { url: "https://…/mf-manifest.json",',
      `                 publicKey: "${publicKey}" } } })`,
      "               The public key is not a secret: write it in the host's code or config. If you read it from",
      '               the environment (publicKey: process.env.MY_REMOTE_PUBLIC_KEY), also set requireSignatures: true',
      '               on the host: an unset variable is no key, and without it the remote loads unsigned with only',
      '               a warning; with it, createHost() throws.',
      '',
    ].join('\n'),
  );
  return 0;
}
