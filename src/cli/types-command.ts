/**
 * `ferry types`: on a host, fetches the declaration files of every configured remote (verified like code) into a
 * folder the host's tsconfig includes, plus an `index.d.ts` that lists each module in ferry's `RemoteModules`, so
 * both `import … from 'remote/expose'` and `host.import('remote/expose')` are typed. The host config is read as
 * `ferry/register` reads it and validated as `createHost` validates it.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { writeFileAtomic } from '../common/atomic-write.ts';
import { FerryError } from '../common/errors.ts';
import { loadHostConfig } from '../register/load-config.ts';
import { type ResolvedHostOptions, resolveHostOptions } from '../runtime/options/host-options.ts';
import { fetchRemoteTypes, type RemoteTypes } from './fetch-types.ts';

const HELP = `Usage: ferry types [options]

Fetches the type declarations of every remote in the host config (ferry.config.{ts,mts,mjs,js} or FERRY_CONFIG),
verified against each remote's manifest (and its signature when a publicKey is pinned), and writes one .d.ts per
remote module plus index.d.ts into the output folder. Include that folder in the host's tsconfig.json. Run it
again after a remote changes.

Options:
  -c, --config <file>   host config file (default: FERRY_CONFIG, else ferry.config.* in the current folder)
  -o, --out <dir>       output folder (default: ferry-types)
  -h, --help            show this help
`;

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
  const env = values.config === undefined ? process.env : { ...process.env, FERRY_CONFIG: resolve(values.config) };
  const { config } = await loadHostConfig(cwd, env);
  const { onStartupFailure: _unused, ...options } = config;
  const { failed } = await writeRemoteTypes(resolveHostOptions(options), resolve(values.out ?? 'ferry-types'), 'types');
  return failed ? 1 : 0;
}

/**
 * Fetches every remote's declarations (verified) into `outDir` with its `index.d.ts`, removing what an earlier run
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
  const results = await Promise.all(
    host.remotes.map((remote) =>
      fetchRemoteTypes(host, remote).then(
        (types): RemoteTypes | { alias: string; error: unknown } => types,
        (error: unknown) => ({ alias: remote.alias, error }),
      ),
    ),
  );

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
