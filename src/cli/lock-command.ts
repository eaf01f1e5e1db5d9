/**
 * `ferry lock`: pins the Module Federation remotes of a host (webpack/rspack builds, `type: 'module-federation'`) in
 * its lock file, like `deno.lock`: for each remote, its `mf-manifest.json`, its container and every chunk its exposes
 * and shared packages list, with size and sha384, and the packages its code requires from the host. The team reviews
 * the remote, runs this in the host's project and commits the lock; the host then refuses any other bytes. `--check`
 * (for CI) fetches the same and fails when the served bytes differ from the lock, writing nothing. It runs the
 * remote's code only with `--record` (a container with no manifest beside it: mf/lock-record.ts).
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { FerryError, InvalidOptionError } from '../common/errors.ts';
import { type LockedRemote, type LockFile, readLock, serializeLock, writeLock } from '../runtime/mf/lock-file.ts';
import { lockRemote } from '../runtime/mf/lock-remote.ts';
import { type ResolvedHostOptions, resolveHostOptions } from '../runtime/options/host-options.ts';
import { hostOptions } from './types-command.ts';

const HELP = `Usage: ferry lock [options]

Pins the Module Federation remotes of a host (remotes with type: 'module-federation', built by webpack or rspack) in
its lock file: for each remote URL, its mf-manifest.json, its container and every chunk its exposes and shared
packages list, each with its size and sha384, and the packages its code requires from the host's share scope.
Review a remote before you lock it, and commit the lock: the host refuses every byte of such a remote that is not in
it. ferry lock reads the remotes' files; it runs them only with --record.

A remoteEntry.js URL is locked from the mf-manifest.json served beside it (build with manifest: true); a build without
one can only be locked with --record, which runs it.

Options:
  -r, --remote <alias=url>   a Module Federation remote (repeatable; no config file is read then):
                             authServiceRemote=http://…/mf-manifest.json, or alias=name@url; entries of the
                             lock for other URLs are kept
  -c, --config <file>        host config file (default: FERRY_CONFIG, else ferry.config.* in the current folder);
                             the lock then holds exactly the config's Module Federation remotes
  -l, --lock <file>          the lock file (default: the config's lockFile, else ./ferry.lock)
      --check                fetch and compare, write nothing: exit 1 when a remote serves other bytes than the lock
      --record               for a remoteEntry.js URL with no mf-manifest.json beside it: RUN the remote here (each
                             expose loaded, with this project's packages) and record every file it fetches;
                             only for a remote you would run anyway
  -e, --expose <key>         with --record: an expose to load (repeatable; default: the remote's \`uses\`)
  -h, --help                 show this help
`;

/** The MF remotes of `--remote` flags, resolved as a host resolves them. */
function flagsHost(remotes: string[], lockFile: string | undefined): ResolvedHostOptions {
  const options: Record<string, { url: string; name?: string; type: 'module-federation' }> = {};
  for (const value of remotes) {
    const index = value.indexOf('=');
    if (index <= 0 || index === value.length - 1) {
      throw new InvalidOptionError(
        `--remote ${JSON.stringify(value)} is not alias=url. Write --remote authServiceRemote=http://…/mf-manifest.json.`,
        { option: 'remote' },
      );
    }
    const alias = value.slice(0, index);
    const target = value.slice(index + 1);
    const at = /^https?:\/\//i.test(target) ? -1 : target.indexOf('@');
    options[alias] =
      at > 0
        ? { name: target.slice(0, at), url: target.slice(at + 1), type: 'module-federation' }
        : { url: target, type: 'module-federation' };
  }
  return resolveHostOptions({
    name: 'ferryLock',
    remotes: options,
    ...(lockFile === undefined ? {} : { lockFile }),
  });
}

/** Runs `ferry lock`; resolves to the exit code (1: a remote could not be locked, or `--check` found a difference). */
export async function runLock(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      remote: { type: 'string', short: 'r', multiple: true },
      config: { type: 'string', short: 'c' },
      lock: { type: 'string', short: 'l' },
      check: { type: 'boolean' },
      record: { type: 'boolean' },
      expose: { type: 'string', short: 'e', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const fromFlags = values.remote !== undefined;
  if (fromFlags && values.config !== undefined) {
    throw new InvalidOptionError('Give the remotes with --remote or with --config, not both.', { option: 'config' });
  }
  const lockFlag = values.lock === undefined ? undefined : resolve(values.lock);
  const host = fromFlags ? flagsHost(values.remote!, lockFlag) : await hostOptions(values, process.cwd(), 'ferryLock');
  const remotes = host.remotes.filter((remote) => remote.type === 'module-federation');
  if (remotes.length === 0) {
    process.stderr.write(
      "ferry lock: the host has no Module Federation remotes (type: 'module-federation'); nothing to lock.\n",
    );
    return fromFlags ? 1 : 0;
  }
  const lockFile = lockFlag ?? remotes[0]!.lockFile;
  const previous = await readLock(lockFile);
  const next: LockFile = {
    lockfileVersion: previous.lockfileVersion,
    remotes: fromFlags ? { ...previous.remotes } : {},
  };
  let failed = false;
  const results = await Promise.all(
    remotes.map(async (remote) => {
      try {
        const record = values.record ? { exposes: values.expose ?? remote.uses ?? [], root: host.root } : undefined;
        const locked = await lockRemote(remote, {
          fetch: host.fetch,
          maxManifestBytes: host.maxManifestBytes,
          ...(record ? { record } : {}),
        });
        return { remote, locked };
      } catch (error) {
        return { remote, error };
      }
    }),
  );
  for (const result of results) {
    const { remote } = result;
    if ('error' in result) {
      failed = true;
      const error = result.error as Error;
      const code = error instanceof FerryError ? `${error.code}: ` : '';
      process.stderr.write(`ferry lock: ${remote.alias} (${remote.manifestUrl}): ${code}${error.message}\n`);
      continue;
    }
    next.remotes[remote.manifestUrl] = result.locked;
    const old = previous.remotes[remote.manifestUrl];
    const changed = describeChange(old, result.locked);
    process.stdout.write(`${remote.alias} (${remote.manifestUrl}): ${changed}\n`);
    if (values.check && changed !== 'unchanged') failed = true;
  }
  if (values.check) {
    if (failed) process.stderr.write(`ferry lock --check: what the remotes serve differs from ${lockFile}.\n`);
    return failed ? 1 : 0;
  }
  if (failed) return 1;
  if (serializeLock(next) !== serializeLock(previous)) await writeLock(lockFile, next);
  process.stdout.write(`wrote ${lockFile}\n`);
  return 0;
}

/** `unchanged`, `new (5 files)`, or `2 files changed, 1 added, 0 removed`. */
function describeChange(old: LockedRemote | undefined, now: LockedRemote): string {
  const count = Object.keys(now.files).length;
  if (!old) return `new (${count} files, requires ${now.packages.join(', ') || 'no packages'} from the host)`;
  if (
    serializeLock({ lockfileVersion: 1, remotes: { x: old } }) ===
    serializeLock({ lockfileVersion: 1, remotes: { x: now } })
  ) {
    return 'unchanged';
  }
  const names = new Set([...Object.keys(old.files), ...Object.keys(now.files)]);
  let changed = 0;
  let added = 0;
  let removed = 0;
  for (const name of names) {
    const a = old.files[name];
    const b = now.files[name];
    if (!a) added++;
    else if (!b) removed++;
    else if (a.integrity !== b.integrity) changed++;
  }
  return `${changed} files changed, ${added} added, ${removed} removed`;
}
