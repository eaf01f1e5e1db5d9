/**
 * `ferry check`: in a host's project (CI), type-checks the host's code against the API its remotes serve now. It
 * fetches every remote's declarations, verified like code (`ferry types`' path: signature when a key is pinned,
 * manifest name, size and `sha384-`), into the types folder the host's tsconfig includes, then runs the host's own
 * TypeScript (`tsc --noEmit -p <tsconfig>`) and exits 1 with the compiler's errors when the host no longer compiles.
 * Remotes come from the host config (`ferry.config.*`, what `ferry/register` reads) or, for hosts that call
 * `createHost()` in code, from the command line.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { InvalidOptionError } from '../common/errors.ts';
import { runNode } from '../common/run-node.ts';
import { hostOptions, writeRemoteTypes } from './types-command.ts';

const HELP = `Usage: ferry check [options]

Checks the host's code against the current API of every remote it uses: fetches each remote's type declarations,
verified like code (signature when a key is pinned, manifest, size and sha384), into the types folder (as
\`ferry types\` does), then type-checks the project with its own TypeScript (tsc --noEmit). Exits 1 with the
compiler's errors when the host does not compile against what its remotes serve now. Run it in the host's CI.

Options:
  -c, --config <file>       host config (default: FERRY_CONFIG, else ferry.config.* in the current folder)
  -r, --remote <alias=url>  a remote the host uses, for hosts that call createHost() in code (repeatable);
                            \`alias=name@url\` when the alias is not the remote's name. Replaces the config.
  -k, --key <alias=key>     the public key pinned for a --remote (repeatable)
  -p, --project <file>      the host's tsconfig (default: tsconfig.json); it must include the types folder
  -o, --out <dir>           the types folder (default: ferry-types)
  -h, --help                show this help
`;

/**
 * The `tsc` to run: the host project's own `typescript` (any version: only its command line is used), else the
 * `tsc6` of ferry's optional `@typescript/typescript6`.
 */
async function findTypeScript(cwd: string): Promise<string | undefined> {
  for (const [from, pkg, bin] of [
    [join(cwd, 'package.json'), 'typescript', 'tsc'],
    [import.meta.url, '@typescript/typescript6', 'tsc6'],
  ] as const) {
    try {
      const manifest = createRequire(from).resolve(`${pkg}/package.json`);
      const { bin: bins } = JSON.parse(await readFile(manifest, 'utf8')) as { bin?: string | Record<string, string> };
      const file = typeof bins === 'string' ? bins : bins?.[bin];
      if (file !== undefined && existsSync(join(dirname(manifest), file))) return join(dirname(manifest), file);
    } catch {
      // Not installed there: try the next.
    }
  }
  return undefined;
}

/**
 * Runs `ferry check` with its arguments and resolves to the exit code: 0 when the host compiles against every
 * remote's current API, 1 when it does not (or a remote could not be fetched and verified).
 *
 * @example
 * ```ts
 * process.exitCode = await runCheck(['--remote', 'authService=https://auth.example.com/federation/']);
 * ```
 */
export async function runCheck(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      config: { type: 'string', short: 'c' },
      remote: { type: 'string', short: 'r', multiple: true },
      key: { type: 'string', short: 'k', multiple: true },
      project: { type: 'string', short: 'p' },
      out: { type: 'string', short: 'o' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const cwd = process.cwd();
  const host = await hostOptions(values, cwd, 'ferryCheck');
  const project = resolve(values.project ?? 'tsconfig.json');
  if (!existsSync(project)) {
    throw new InvalidOptionError(
      `No tsconfig at ${project}; give the host's with --project, and include the types folder in it.`,
      { file: project, option: '--project' },
    );
  }
  const tsc = await findTypeScript(cwd);
  if (tsc === undefined) {
    throw new InvalidOptionError('No TypeScript to check with. Install it in the host project (npm i -D typescript).', {
      option: 'typescript',
    });
  }
  const { failed } = await writeRemoteTypes(host, resolve(values.out ?? 'ferry-types'), 'check');
  const { code, output } = await runNode(tsc, ['--noEmit', '-p', project, '--pretty', 'false'], cwd);
  if (code === 0 && !failed) {
    // Module Federation remotes (webpack, rspack) carry no declarations ferry reads: said, not counted as checked.
    const mf = host.remotes.filter((remote) => remote.type === 'module-federation').length;
    process.stdout.write(
      `ferry check: the host compiles against the current API of ${host.remotes.length - mf} remote(s) ` +
        `(${relative(cwd, project) || project})` +
        (mf > 0 ? `; ${mf} Module Federation remote(s) not checked (no ferry declarations).\n` : '.\n'),
    );
    return 0;
  }
  if (output.trim() !== '') process.stderr.write(`${output.trimEnd()}\n`);
  if (code !== 0) {
    process.stderr.write(
      'ferry check: the host does not compile against the API its remotes serve now (errors above). Change the ' +
        "host's code, or keep the remote on a compatible release (and keep the host's versionRange excluding the " +
        'breaking one).\n',
    );
  } else {
    process.stderr.write('ferry check: a remote could not be fetched and verified (above); its API was not checked.\n');
  }
  return 1;
}
