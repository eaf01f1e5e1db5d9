/**
 * `ferry release`: the releases kept in a build output folder and the channels that point at them — promote a release
 * (to a share of hosts), roll back, show what each channel serves, prune releases nothing needs (src/build/release.ts).
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { promote, prune, releaseStatus, rollback } from '../build/release.ts';
import { loadSigningKey } from '../build/signing-key.ts';
import { InvalidOptionError } from '../common/errors.ts';
import { bucketOf } from '../manifest/index.ts';

const HELP = `Usage: ferry release <command> [options]

Commands:
  promote <release> --channel <name> [--percent <n>] [--host <id>]...
                       point the channel at a release kept in the output folder: every host (default), or as a
                       rollout to n % of the hosts (by their stable bucket) and to hosts named by id
  rollback --channel <name>
                       call off a rollout in progress, or go back to the release the channel served before
  status               the releases kept and what each channel serves
  prune [--keep <n>]   remove kept releases no channel names, beyond the newest n (default 3), and their files

Options:
  -o, --out <dir>         the build output folder (default dist/federation)
      --sign <keyfile>    the PEM key that signs channel documents (default: FERRY_SIGNING_KEY)
      --expires-in <dur>  how long hosts accept the channel document: "30d" (default), "12h", seconds
      --bucket <host id>  with status: the bucket (0–100) a host id falls in for each channel
  -h, --help              show this help
`;

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

function expiresIn(raw: string | undefined): number {
  if (raw === undefined) return 30 * 86_400;
  const match = /^(\d+)\s*([smhdw])?$/.exec(raw.trim());
  const seconds = match ? Number(match[1]) * UNITS[match[2] ?? 's']! : 0;
  if (!Number.isSafeInteger(seconds) || seconds <= 0) {
    throw new InvalidOptionError(
      `--expires-in must be a duration such as "30d" or "12h", got ${JSON.stringify(raw)}.`,
      {
        option: 'expires-in',
      },
    );
  }
  return seconds;
}

/** Runs `ferry release` with its arguments and resolves to the exit code. */
export async function runRelease(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      out: { type: 'string', short: 'o' },
      sign: { type: 'string' },
      channel: { type: 'string' },
      percent: { type: 'string' },
      host: { type: 'string', multiple: true },
      keep: { type: 'string' },
      bucket: { type: 'string' },
      'expires-in': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || command === undefined) {
    process.stdout.write(HELP);
    return values.help ? 0 : 2;
  }
  const outDir = resolve(values.out ?? 'dist/federation');
  const signed = async () => {
    const key = await loadSigningKey({
      ...(values.sign !== undefined ? { sign: values.sign } : {}),
      root: process.cwd(),
      env: process.env,
    });
    if (!key) {
      throw new InvalidOptionError(
        'ferry release: channel documents are signed; give the key with --sign <keyfile> or FERRY_SIGNING_KEY.',
        { option: 'sign' },
      );
    }
    return { key: key.key, expiresIn: expiresIn(values['expires-in']) };
  };
  const channel = () => {
    if (values.channel === undefined) {
      throw new InvalidOptionError(`ferry release ${command}: --channel <name> is required.`, { option: 'channel' });
    }
    return values.channel;
  };
  switch (command) {
    case 'promote': {
      const release = Number(rest[0]);
      if (!Number.isSafeInteger(release) || release <= 0) {
        throw new InvalidOptionError(`ferry release promote: give a release number, got ${JSON.stringify(rest[0])}.`, {
          option: 'release',
        });
      }
      const percent = values.percent === undefined ? 100 : Number(values.percent);
      const document = await promote({
        outDir,
        channel: channel(),
        release,
        percent,
        ...(values.host ? { hosts: values.host } : {}),
        ...(await signed()),
      });
      process.stdout.write(`${describe(document)}\n`);
      return 0;
    }
    case 'rollback': {
      const document = await rollback({ outDir, channel: channel(), ...(await signed()) });
      process.stdout.write(`${describe(document)}\n`);
      return 0;
    }
    case 'status': {
      const status = await releaseStatus(outDir);
      const lines = [`Remote ${status.remote ?? '(none)'} in ${outDir}`];
      lines.push(`Releases kept: ${status.releases.map((r) => `${r.release} (${r.version})`).join(', ') || 'none'}`);
      for (const document of status.channels) {
        const bucket =
          values.bucket === undefined
            ? ''
            : `; host ${values.bucket} is in bucket ${bucketOf(values.bucket, document.remote, document.channel)}`;
        lines.push(`${describe(document)}${bucket}`);
      }
      if (status.channels.length === 0)
        lines.push('No channels: hosts that follow one fail to load; run `ferry release promote`.');
      process.stdout.write(`${lines.join('\n')}\n`);
      return 0;
    }
    case 'prune': {
      const keep = values.keep === undefined ? 3 : Number(values.keep);
      const result = await prune(outDir, keep);
      process.stdout.write(
        `Removed releases: ${result.removed.join(', ') || 'none'}; files removed: ${result.files.length}.\n`,
      );
      return 0;
    }
    default:
      process.stderr.write(`ferry release: unknown command ${JSON.stringify(command)}.\n\n${HELP}`);
      return 2;
  }
}

function describe(document: {
  channel: string;
  sequence: number;
  release: number;
  expires: string;
  previous?: number;
  rollout?: { release: number; percent: number; hosts?: string[] };
}): string {
  const rollout = document.rollout
    ? `; rolling out release ${document.rollout.release} to ${document.rollout.percent} % of hosts` +
      (document.rollout.hosts?.length ? ` and ${document.rollout.hosts.join(', ')}` : '')
    : '';
  const previous = document.previous === undefined ? '' : ` (before: ${document.previous})`;
  return `Channel ${document.channel} #${document.sequence}: release ${document.release}${previous}${rollout}; expires ${document.expires}`;
}
