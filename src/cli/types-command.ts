/**
 * `ferry types`: on a host, fetches the declaration files of every configured remote (verified like code) into a
 * folder the host's tsconfig includes, plus an `index.d.ts` that lists each module in ferry's `RemoteModules`, so
 * both `import … from 'remote/expose'` and `host.import('remote/expose')` are typed. The remotes come from the
 * command line (`--remote alias=url`, `--key alias=ed25519:…`: hosts that call `createHost()` in their own code), or
 * else from the host config, read as `ferry/register` reads it; either is validated as `createHost` validates it.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { writeFileAtomic } from '../common/atomic-write.ts';
import { FerryError, InvalidOptionError } from '../common/errors.ts';
import { loadHostConfig } from '../register/load-config.ts';
import {
  type HostOptions,
  type ResolvedHostOptions,
  resolveAddedRemote,
  resolveHostOptions,
} from '../runtime/options/host-options.ts';
import { dependencyOptions, type ResolvedRemote } from '../runtime/options/remote-options.ts';
import { fetchRemoteTypes, type RemoteTypes } from './fetch-types.ts';

const HELP = `Usage: ferry types [options]

Fetches the type declarations of every remote given with --remote, else of every remote in the host config
(ferry.config.{ts,mts,mjs,js} or FERRY_CONFIG), verified against each remote's manifest (and its signature when a
key is pinned), and writes one .d.ts per remote module plus index.d.ts into the output folder. Include that folder
in the host's tsconfig.json. Run it again after a remote changes.

Options:
  -r, --remote <alias=url>   a remote, as the host's code names it: authService=https://…/mf-manifest.json
                             (repeat for each remote; no config file is read then);
                             authService=name@url when the alias is not the remote's name
  -k, --key <alias=key>      the public key pinned for that remote: authService=ed25519:… (repeatable)
  -c, --config <file>        host config file (default: FERRY_CONFIG, else ferry.config.* in the current folder)
  -o, --out <dir>            output folder (default: ferry-types)
  -h, --help                 show this help
`;

/** Splits `alias=value` arguments of `flag`; the alias must be given once per `--remote`. */
function pairs(values: string[], flag: string): Array<[string, string]> {
  return values.map((value) => {
    const index = value.indexOf('=');
    if (index <= 0 || index === value.length - 1) {
      throw new InvalidOptionError(
        `--${flag} ${JSON.stringify(value)} is not alias=value. Write --${flag} ` +
          (flag === 'remote' ? 'authService=https://…/mf-manifest.json.' : 'authService=ed25519:….'),
        { option: flag },
      );
    }
    return [value.slice(0, index), value.slice(index + 1)];
  });
}

/**
 * Host options from `--remote` and `--key`: the remotes a host's own `createHost()` call configures. A remote is
 * `alias=url`, or `alias=name@url` when the alias is not the remote's name.
 */
function optionsFromFlags(remoteFlags: string[], keyFlags: string[], hostName: string): HostOptions {
  const remotes: Record<string, { url: string; name?: string; publicKey?: string[] }> = {};
  for (const [alias, value] of pairs(remoteFlags, 'remote')) {
    if (Object.hasOwn(remotes, alias)) {
      throw new InvalidOptionError(`--remote ${alias}=… is given twice; give each remote once.`, {
        option: 'remote',
        remote: alias,
      });
    }
    const at = /^https?:\/\//i.test(value) ? -1 : value.indexOf('@');
    remotes[alias] = at > 0 ? { name: value.slice(0, at), url: value.slice(at + 1) } : { url: value };
  }
  for (const [alias, key] of pairs(keyFlags, 'key')) {
    const remote = remotes[alias];
    if (remote === undefined) {
      throw new InvalidOptionError(
        `--key ${alias}=… names no remote given with --remote (given: ${Object.keys(remotes).join(', ')}). ` +
          `Add --remote ${alias}=<manifest URL>, or fix the alias.`,
        { option: 'key', remote: alias },
      );
    }
    remote.publicKey = [...(remote.publicKey ?? []), key];
  }
  return { name: hostName, remotes };
}

/** The list of files `ferry types` wrote, kept in the output folder so a later run removes only its own files. */
const INDEX_FILE = '.ferry-types.json';
const DECLARATIONS_INDEX = 'index.d.ts';

interface WrittenIndex {
  /** File names written, by remote alias. */
  remotes: Record<string, string[]>;
}

async function readIndex(outDir: string): Promise<WrittenIndex> {
  try {
    const parsed = JSON.parse(await readFile(join(outDir, INDEX_FILE), 'utf8')) as Partial<WrittenIndex>;
    const remotes: Record<string, string[]> = {};
    for (const [alias, files] of Object.entries(parsed.remotes ?? {})) {
      // Only plain names: the index is ours, but a name with a path separator must never make us delete elsewhere.
      if (Array.isArray(files)) remotes[alias] = files.filter((file) => /^[A-Za-z0-9_$][\w$.-]*\.d\.ts$/.test(file));
    }
    return { remotes };
  } catch {
    return { remotes: {} };
  }
}

/** `authService/utils/a` -> `authService.utils.a.d.ts` (expose keys hold no dots, so names never collide). */
function fileNameOf(specifier: string): string {
  return `${specifier.replaceAll('/', '.')}.d.ts`;
}

/** index.d.ts: references every module file and merges each specifier into ferry's `RemoteModules`. */
function declarationsIndex(specifiers: string[], files: string[]): string {
  return [
    '// Written by `ferry types`; do not edit. Run `ferry types` again after a remote changes.',
    ...files.map((file) => `/// <reference path="./${file}" />`),
    'export {};',
    "declare module 'ferry' {",
    '  interface RemoteModules {',
    ...specifiers.map((specifier) => `    '${specifier}': typeof import('${specifier}');`),
    '  }',
    '}',
    '',
  ].join('\n');
}

/**
 * The host's remotes for `ferry types` and `ferry check`: from `--remote`/`--key`, else from the host config.
 *
 * @example
 * ```ts
 * const host = await hostOptions({ remote: ['auth=https://auth.example.com/federation/'] }, process.cwd(), 'ferryCheck');
 * ```
 */
export async function hostOptions(
  values: { remote?: string[]; key?: string[]; config?: string },
  cwd: string,
  hostName = 'ferryTypes',
): Promise<ResolvedHostOptions> {
  if (values.remote !== undefined) {
    if (values.config !== undefined) {
      throw new InvalidOptionError(
        'Give the remotes with --remote or with --config, not both (--remote reads no config file).',
        { option: 'config' },
      );
    }
    return resolveHostOptions(optionsFromFlags(values.remote, values.key ?? [], hostName));
  }
  if (values.key !== undefined) {
    throw new InvalidOptionError(
      "--key pins the key of a remote given with --remote; with a config file, set the remote's " +
        'publicKey there instead.',
      { option: 'key' },
    );
  }
  const env = values.config === undefined ? process.env : { ...process.env, FERRY_CONFIG: resolve(values.config) };
  const { config } = await loadHostConfig(cwd, env, {
    prefix: '',
    alternative: 'or, for a host that calls createHost() itself, name its remotes: --remote authService=<manifest URL>',
  });
  const { onStartupFailure: _unused, ...options } = config;
  return resolveHostOptions(options);
}

/**
 * Runs `ferry types` with its arguments and resolves to the exit code: 0 when every remote's types were written (or
 * a remote has none, which is a warning), 1 when a remote could not be fetched or verified.
 *
 * @example
 * ```ts
 * process.exitCode = await runTypes(['--out', 'src/ferry-types']);
 * ```
 */
export async function runTypes(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      remote: { type: 'string', short: 'r', multiple: true },
      key: { type: 'string', short: 'k', multiple: true },
      config: { type: 'string', short: 'c' },
      out: { type: 'string', short: 'o' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const cwd = process.cwd();
  const host = await hostOptions(values, cwd);
  const { failed } = await writeRemoteTypes(host, resolve(values.out ?? 'ferry-types'), 'types');
  return failed ? 1 : 0;
}

type Fetched = RemoteTypes | { alias: string; error: unknown };

/**
 * The declarations of the host's remotes and of the remotes they use (their manifests' `remotes`, level by level),
 * each nested one under the key its parent imports it by (`pricing/prices` in checkout's declarations) and verified
 * with the key the parent's manifest pins for it, as the host's runtime loads it. A remote the host configures itself
 * is fetched once, as the host configures it.
 */
async function fetchWithNested(host: ResolvedHostOptions): Promise<Fetched[]> {
  const fetchOne = (remote: ResolvedRemote) =>
    fetchRemoteTypes(host, remote).then(
      (types): Fetched => types,
      (error: unknown): Fetched => ({ alias: remote.alias, error }),
    );
  const names = new Set(host.remotes.map((remote) => remote.name));
  const aliases = new Set(host.remotes.map((remote) => remote.alias));
  const results: Fetched[] = [];
  // A webpack/rspack Module Federation remote publishes no ferry declarations (MF's @mf-types.zip is not read).
  let wave: readonly ResolvedRemote[] = host.remotes.filter((remote) => remote.type !== 'module-federation');
  while (wave.length > 0) {
    const fetched = await Promise.all(wave.map(fetchOne));
    results.push(...fetched);
    const next: ResolvedRemote[] = [];
    for (const parent of fetched) {
      if ('error' in parent) continue;
      for (const [key, dependency] of Object.entries(parent.manifest.ferry.remotes ?? {})) {
        if (names.has(dependency.name)) continue;
        names.add(dependency.name);
        if (aliases.has(key)) {
          results.push({
            alias: key,
            error: new InvalidOptionError(
              `remote "${parent.alias}" uses remote "${dependency.name}" as "${key}", but another remote has that ` +
                `alias here. Configure "${dependency.name}" on the host under its own name.`,
              { remote: parent.alias, option: `remotes.${key}` },
            ),
          });
          continue;
        }
        aliases.add(key);
        try {
          next.push(resolveAddedRemote(host, key, dependencyOptions(dependency)));
        } catch (error) {
          results.push({ alias: key, error });
        }
      }
    }
    wave = next;
  }
  return results;
}

/**
 * Fetches every remote's declarations (verified), and those of the remotes they use, into `outDir` with its `index.d.ts`, removing what an earlier run
 * wrote for remotes or exposes that are gone; a remote that cannot be fetched keeps its earlier files. Problems are
 * reported on stderr as `ferry <command>: …`; `failed` says whether any remote could not be fetched.
 *
 * @example
 * ```ts
 * const { failed } = await writeRemoteTypes(resolveHostOptions(config), resolve('ferry-types'), 'check');
 * ```
 */
export async function writeRemoteTypes(
  host: ResolvedHostOptions,
  outDir: string,
  command: string,
): Promise<{ failed: boolean; modules: number }> {
  const results = await fetchWithNested(host);

  await mkdir(outDir, { recursive: true });
  const previous = await readIndex(outDir);
  const next: WrittenIndex = { remotes: {} };
  const specifiers: string[] = [];
  let failed = false;
  for (const result of results) {
    if ('error' in result) {
      failed = true;
      const { error } = result;
      const message = error instanceof FerryError ? `${error.message} [${error.code}]` : String(error);
      process.stderr.write(`ferry ${command}: remote "${result.alias}": ${message}\n`);
      // Keep what an earlier run wrote for it: stale types beat none while the remote is unreachable.
      const kept = previous.remotes[result.alias] ?? [];
      next.remotes[result.alias] = kept;
      specifiers.push(...kept.map((file) => file.slice(0, -'.d.ts'.length).replaceAll('.', '/')));
      continue;
    }
    if (result.types.length === 0) {
      process.stderr.write(
        `ferry ${command}: warning: remote "${result.alias}" (${result.manifest.name} ${result.manifest.ferry.version}) ` +
          'publishes no type declarations; build it with `typescript` installed (and without `dts: false`).\n',
      );
    } else if (result.untyped.length > 0) {
      process.stderr.write(
        `ferry ${command}: warning: remote "${result.alias}" has no declarations for ${result.untyped.join(', ')}.\n`,
      );
    }
    next.remotes[result.alias] = [];
    for (const types of result.types) {
      const file = fileNameOf(types.specifier);
      await writeFileAtomic(join(outDir, file), types.text);
      next.remotes[result.alias]!.push(file);
      specifiers.push(types.specifier);
    }
  }

  const files = Object.values(next.remotes).flat().sort();
  await writeFileAtomic(join(outDir, DECLARATIONS_INDEX), declarationsIndex(specifiers.sort(), files));
  await writeFileAtomic(join(outDir, INDEX_FILE), `${JSON.stringify(next, null, 2)}\n`);
  const keep = new Set(files);
  const stale = Object.values(previous.remotes)
    .flat()
    .filter((file) => !keep.has(file));
  for (const file of stale) await rm(join(outDir, file), { force: true });

  const where = relative(process.cwd(), outDir) || '.';
  process.stdout.write(
    `Wrote types of ${specifiers.length} remote module(s) into ${where}` +
      `${stale.length > 0 ? `, removed ${stale.length} stale file(s)` : ''}. Include "${where}" in your tsconfig.json.\n`,
  );
  return { failed, modules: specifiers.length };
}
