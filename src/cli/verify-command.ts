/**
 * `ferry verify <dir-or-url> [--key <public key>]...`: checks a build output folder or a live remote the way a host
 * would — signature (with the keys given), manifest, expiry, and the size and sha384 of every file — without running
 * any of its code. Prints one line per check and exits 1 when anything is wrong, so it fits in CI and deploy scripts.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { FerryError, InvalidOptionError } from '../common/errors.ts';
import {
  integrityOf,
  isSafeFileName,
  MANIFEST_FILE,
  type Manifest,
  normalisePublicKey,
  parseManifest,
  SIGNATURE_FILE,
  signatureFileFor,
} from '../manifest/index.ts';
import { fetchBytes } from '../runtime/net/fetch-bytes.ts';
import { checkNotExpired } from '../runtime/trust/expiry.ts';
import { verifySignatureFile } from '../runtime/trust/signature-file.ts';

const HELP = `Usage: ferry verify <dir-or-url> [--key <public key>]... [--timeout ms]

Checks a build output folder (default dist/federation) or a live remote (its mf-manifest.json URL or the URL of the
folder it is served from) as a host would, without running any of its code:
  - the manifest signature, against the keys given with --key (any one may match, as on a host)
  - the manifest itself, and that it has not expired
  - every file it lists: present, with the declared size and sha384
  - the container under its configured name (remoteEntry.js, for Module Federation tooling; not listed) and the
    signature's copy for this manifest (mf-manifest.<hash>.sig): when present, the same bytes as the listed
    container and as mf-manifest.json.sig

Prints one line per check (ok / FAIL / note) and exits 1 when anything is wrong, 0 when all is good.

Options:
  -k, --key <key>     a pinned public key (ed25519:…, as printed by \`ferry keygen\`); repeat for several
  --timeout <ms>      deadline of each request to a live remote (default 10000)
  -h, --help          show this help
`;

const MAX_MANIFEST_BYTES = 1 << 20;
const MAX_SIGNATURE_BYTES = 4096;

/** A file as read: its size, and its bytes unless it is larger than was allowed. */
interface Found {
  size: number;
  bytes?: Uint8Array;
}

/** Where the output comes from: a folder or a live remote. `read` resolves to undefined for a missing file. */
interface Source {
  /** Shown in messages: the folder or the manifest URL. */
  label: string;
  manifestLocation: string;
  /** Names the remote in transport errors before the manifest says its name. */
  remoteLabel: string;
  read(name: string, maxBytes: number, remote: string): Promise<Found | undefined>;
  /** Files in the folder that are not the manifest or its signature (undefined for a live remote). */
  listFiles(): Promise<string[] | undefined>;
}

function folderSource(input: string): Source {
  const given = resolve(input);
  const dir = basename(given) === MANIFEST_FILE ? dirname(given) : given;
  const shown = relative(process.cwd(), dir);
  const label = shown === '' ? '.' : shown.startsWith('..') ? dir : shown;
  return {
    label,
    manifestLocation: join(dir, MANIFEST_FILE),
    remoteLabel: 'build output',
    async read(name, maxBytes) {
      const file = join(dir, name);
      try {
        // Measure before reading, so a huge stray file is reported, not loaded.
        const { size } = await stat(file);
        return size > maxBytes ? { size } : { size, bytes: await readFile(file) };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
    },
    async listFiles() {
      try {
        const entries = await readdir(dir, { recursive: true, withFileTypes: true });
        return entries
          .filter((entry) => entry.isFile())
          .map((entry) => relative(dir, join(entry.parentPath, entry.name)).split('\\').join('/'))
          .filter((name) => name !== MANIFEST_FILE && name !== SIGNATURE_FILE);
      } catch {
        return [];
      }
    },
  };
}

function manifestUrlOf(input: string): string {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new InvalidOptionError(`ferry verify: ${JSON.stringify(input)} is not a valid URL.`, { option: 'url' });
  }
  if (url.username || url.password) {
    throw new InvalidOptionError('ferry verify: the URL must not contain credentials.', { option: 'url' });
  }
  return url.pathname.endsWith('/') || url.pathname.endsWith('.js') ? new URL(MANIFEST_FILE, url).href : url.href;
}

function remoteSource(input: string, timeout: number): Source {
  const manifestUrl = manifestUrlOf(input);
  return {
    label: manifestUrl,
    manifestLocation: manifestUrl,
    remoteLabel: new URL(manifestUrl).host,
    async read(name, maxBytes, remote) {
      const result = await fetchBytes(new URL(name, manifestUrl).href, {
        timeout,
        maxBytes,
        remote,
        what: name === MANIFEST_FILE ? 'manifest' : `file ${name}`,
        allowNotFound: true,
      });
      return result.status === 404 ? undefined : { size: result.bytes.byteLength, bytes: result.bytes };
    },
    listFiles: async () => undefined,
  };
}

/** Collects the report lines; `problems` decides the exit code. */
class Report {
  problems = 0;
  ok(text: string): void {
    process.stdout.write(`ok    ${text}\n`);
  }
  note(text: string): void {
    process.stdout.write(`note  ${text}\n`);
  }
  fail(text: string): void {
    this.problems++;
    process.stdout.write(`FAIL  ${text}\n`);
  }
  /** A typed failure becomes one line with its code; anything else is a bug and is rethrown. */
  failWith(what: string, error: unknown): void {
    if (!(error instanceof FerryError)) throw error;
    this.fail(`${what}: ${error.message} [${error.code}]`);
  }
}

async function checkFiles(
  source: Source,
  manifest: Manifest,
  report: Report,
  /** Files checked elsewhere, which are not worth a note although the manifest does not list them. */
  unlisted: ReadonlySet<string>,
): Promise<void> {
  for (const name of Object.keys(manifest.ferry.files).sort()) {
    const entry = manifest.ferry.files[name]!;
    let found: Found | undefined;
    try {
      found = await source.read(name, entry.size, manifest.name);
    } catch (error) {
      report.failWith(`file ${name}`, error);
      continue;
    }
    const changed = 'The file changed after the build, or comes from another build: redeploy the whole output.';
    if (found === undefined) {
      report.fail(`file ${name}: missing (the manifest lists it with ${entry.size} bytes). Deploy the whole output.`);
    } else if (found.size !== entry.size || found.bytes === undefined) {
      report.fail(`file ${name}: ${found.size} bytes, the manifest says ${entry.size}. ${changed}`);
    } else if (integrityOf(found.bytes) !== entry.integrity) {
      report.fail(
        `file ${name}: sha384 is ${integrityOf(found.bytes)}, the manifest says ${entry.integrity}. ${changed}`,
      );
    } else {
      report.ok(`file ${name} (${entry.size} bytes, ${entry.integrity.slice(0, 19)}…)`);
    }
  }
  const listed = await source.listFiles();
  for (const extra of listed?.filter((name) => !Object.hasOwn(manifest.ferry.files, name) && !unlisted.has(name)) ??
    []) {
    report.note(`file ${extra} is not in the manifest; hosts never load it.`);
  }
}

/**
 * The files a build writes beside the manifest without listing them, each compared with the listed file it copies:
 * the container under its configured `filename` (`metaData.remoteEntry.name`), which Module Federation tooling loads
 * (hosts load the content-addressed `ferry.remoteEntry`), and the signature's copy named for this manifest, which a
 * host fetches when the manifest and `mf-manifest.json.sig` it got come from two builds. Either may be absent (an
 * older build, an unsigned one, a deployment that left them out): that is only a note.
 */
async function checkUnlisted(
  source: Source,
  manifest: Manifest,
  copies: { manifestBytes: Uint8Array; signatureBytes: Uint8Array | undefined },
  report: Report,
): Promise<void> {
  const compare = async (name: string, original: string, expected: Uint8Array, why: string) => {
    let found: Found | undefined;
    try {
      found = await source.read(name, expected.byteLength, manifest.name);
    } catch (error) {
      report.failWith(`file ${name}`, error);
      return;
    }
    if (found === undefined) {
      report.note(`file ${name} is not there (${why}).`);
    } else if (found.bytes === undefined || integrityOf(found.bytes) !== integrityOf(expected)) {
      report.fail(
        `file ${name}: not the same bytes as ${original} (${why}). It comes from another build: redeploy the whole ` +
          'output.',
      );
    } else {
      report.ok(`file ${name} (same bytes as ${original})`);
    }
  };
  // The parser does not check the Module Federation fields (hosts never load by them): read this one with care.
  const configured: unknown = manifest.metaData?.remoteEntry?.name;
  const container = manifest.ferry.remoteEntry;
  if (typeof configured === 'string' && configured !== container && isSafeFileName(configured)) {
    const listed = await source
      .read(container, manifest.ferry.files[container]!.size, manifest.name)
      .catch(() => undefined);
    // A missing or changed container was reported by checkFiles; only a good one is worth comparing with.
    if (listed?.bytes !== undefined && integrityOf(listed.bytes) === manifest.ferry.files[container]!.integrity) {
      await compare(
        configured,
        container,
        listed.bytes,
        'the container under its configured name, for Module Federation tooling; hosts do not load it',
      );
    }
  }
  if (copies.signatureBytes !== undefined) {
    await compare(
      signatureFileFor(copies.manifestBytes),
      SIGNATURE_FILE,
      copies.signatureBytes,
      'the copy of the signature hosts fetch when a rebuild in place gave them the manifest and the signature of two builds',
    );
  }
}

/**
 * Runs `ferry verify` and resolves to the exit code: 0 when everything checks out, 1 when anything is wrong.
 *
 * @example
 * ```sh
 * ferry verify dist/federation --key ed25519:3Jd…
 * ferry verify https://auth.example.com/federation/ --key ed25519:3Jd… --key ed25519:Qx9…
 * ```
 */
export async function runVerify(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      key: { type: 'string', short: 'k', multiple: true },
      timeout: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length > 1) {
    process.stderr.write(`ferry verify: give one folder or URL, got ${positionals.length}.\n\n${HELP}`);
    return 2;
  }
  const given = values.key ?? [];
  const keys = given.map((key, index) => normalisePublicKey(key, given.length > 1 ? `--key (#${index + 1})` : '--key'));
  const timeout = values.timeout === undefined ? 10_000 : Number(values.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0) {
    throw new InvalidOptionError(`--timeout must be a positive number of milliseconds, got ${values.timeout}.`, {
      option: 'timeout',
    });
  }
  const input = positionals[0] ?? 'dist/federation';
  const source = /^https?:\/\//i.test(input) ? remoteSource(input, timeout) : folderSource(input);
  const report = new Report();
  process.stdout.write(`ferry verify: ${source.label}\n`);
  await verify(source, keys, report);
  process.stdout.write(
    report.problems === 0
      ? `ferry verify: all good.\n`
      : `ferry verify: ${report.problems} problem${report.problems === 1 ? '' : 's'} found.\n`,
  );
  return report.problems === 0 ? 0 : 1;
}

async function verify(source: Source, keys: string[], report: Report): Promise<void> {
  const where = source.manifestLocation;
  const remote = source.remoteLabel;
  let manifest: Found | undefined;
  let signature: Found | undefined;
  try {
    manifest = await source.read(MANIFEST_FILE, MAX_MANIFEST_BYTES, remote);
  } catch (error) {
    report.failWith('manifest', error);
    return;
  }
  if (manifest === undefined) {
    report.fail(`manifest: there is no ${MANIFEST_FILE} at ${where}. Point at a \`ferry build\` output folder.`);
    return;
  }
  const manifestBytes = manifest.bytes;
  if (manifestBytes === undefined) {
    report.fail(`manifest: ${where} is ${manifest.size} bytes, more than the ${MAX_MANIFEST_BYTES} hosts accept.`);
    return;
  }
  let unreadable = false;
  try {
    signature = await source.read(SIGNATURE_FILE, MAX_SIGNATURE_BYTES, remote);
  } catch (error) {
    report.failWith('signature', error);
    unreadable = true;
  }
  if (signature && signature.bytes === undefined) {
    report.fail(
      `signature: ${SIGNATURE_FILE} is ${signature.size} bytes; the one \`ferry build --sign\` writes is a few ` +
        'hundred. Serve the signature file from the build output unchanged.',
    );
    unreadable = true;
  }
  const signatureBytes = signature?.bytes;
  const details = { remote, url: where };
  if (unreadable) {
    // Reported above; verifying nothing would only repeat it.
  } else if (keys.length > 0) {
    try {
      const key = verifySignatureFile(manifestBytes, signatureBytes, keys, details);
      report.ok(`signature by pinned key ${key}`);
    } catch (error) {
      report.failWith('signature', error);
    }
  } else if (signatureBytes === undefined) {
    report.note(
      'unsigned: there is no signature file, so nothing proves who made this manifest. Sign builds with ' +
        '`ferry build --sign`; hosts with requireSignatures: true refuse unsigned remotes.',
    );
  } else {
    report.note(`signature present but not verified: pass --key <public key> to check it against the key you pin.`);
  }
  let parsed: Manifest;
  try {
    parsed = parseManifest(manifestBytes, where);
  } catch (error) {
    report.failWith('manifest', error);
    return;
  }
  const { ferry } = parsed;
  report.ok(`manifest of ${parsed.name} ${ferry.version}, release ${ferry.release}, built ${ferry.builtAt}`);
  try {
    checkNotExpired(parsed, Date.now(), { ...details, remote: parsed.name });
    const days = Math.floor((Date.parse(ferry.expires) - Date.now()) / 86_400_000);
    report.ok(`expires ${ferry.expires} (in ${days} day${days === 1 ? '' : 's'})`);
  } catch (error) {
    report.failWith('expiry', error);
  }
  const configured: unknown = parsed.metaData?.remoteEntry?.name;
  const unlisted = new Set([signatureFileFor(manifestBytes), ...(typeof configured === 'string' ? [configured] : [])]);
  await checkFiles(source, parsed, report, unlisted);
  await checkUnlisted(source, parsed, { manifestBytes, signatureBytes }, report);
}
