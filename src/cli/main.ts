/**
 * cli: the `ferry` command. Top of the import graph: it may import every other layer; nothing imports it.
 *
 * Each command lives in its own file and is loaded only when it runs, so `ferry serve` never loads esbuild.
 */
import { FerryError } from '../common/errors.ts';
import { ferryVersion } from '../common/ferry-version.ts';

/** A command: takes its own arguments, writes to stdout/stderr, resolves to the process exit code. */
export type Command = (args: string[]) => Promise<number>;

/**
 * A command: its one-line summary, its loader, and optionally work to start before its modules load (which takes
 * ~20 ms: `prepare` runs beside it).
 */
interface CommandEntry {
  summary: string;
  load: () => Promise<Command>;
  prepare?: () => void;
}

const commands: Record<string, CommandEntry> = {
  build: {
    summary: 'bundle the exposed modules of ferry.config.* into a signed, content-hashed federation bundle',
    load: async () => (await import('./build-command.ts')).runBuild,
    // esbuild's service is a child process that takes a few ms to answer its first request: started here, it is
    // ready when the config is bundled. oxc-transform (the type declarations) is a native addon whose loading (~6 ms)
    // lands while the config is bundled, instead of beside the bundles, where esbuild's plugins wait for the main
    // thread. Any failure (a package not installed) is the build's to report, with its fix.
    prepare: () => {
      import('esbuild').then((esbuild) => esbuild.formatMessages([], { kind: 'warning' })).catch(() => {});
      import('oxc-transform').catch(() => {});
    },
  },
  serve: {
    summary: 'serve a build output folder over HTTP (immutable hashed files, revalidated manifest)',
    load: async () => (await import('./serve-command.ts')).runServe,
  },
  types: {
    summary: "fetch the remotes' type declarations (verified) into ferry-types/ for the host's tsconfig",
    load: async () => (await import('./types-command.ts')).runTypes,
  },
  check: {
    summary: "type-check the host's code against the current API of its remotes (fetched verified), for CI",
    load: async () => (await import('./check-command.ts')).runCheck,
  },
  keygen: {
    summary: 'write an Ed25519 signing key and print the public key hosts pin',
    load: async () => (await import('./keygen-command.ts')).runKeygen,
  },
  inspect: {
    summary: "print a running host's remotes, versions, graph, shared packages and recent events (ferry/inspector)",
    load: async () => (await import('./inspect-command.ts')).runInspect,
  },
  verify: {
    summary: "check a build output folder or a live remote: signature, manifest, expiry, every file's sha384",
    load: async () => (await import('./verify-command.ts')).runVerify,
  },
  lock: {
    summary: "pin the host's Module Federation remotes (webpack/rspack builds) in ferry.lock; --check for CI",
    load: async () => (await import('./lock-command.ts')).runLock,
  },
  release: {
    summary: 'promote, roll back and prune releases and channels in a build output folder',
    load: async () => (await import('./release-command.ts')).runRelease,
  },
};

function usage(): string {
  const rows = Object.entries(commands).map(([name, { summary }]) => `  ferry ${name.padEnd(8)} ${summary}`);
  return [
    'Usage: ferry <command> [options]',
    '',
    'Commands:',
    ...rows,
    '',
    'Run `ferry <command> --help` for its options.',
  ].join('\n');
}

/** Runs the CLI with the given arguments (without `node` and the script) and resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${ferryVersion()}\n`);
    return 0;
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!command) {
    process.stderr.write(`ferry: unknown command "${name}".\n\n${usage()}\n`);
    return 2;
  }
  try {
    command.prepare?.();
    return await (await command.load())(rest);
  } catch (error) {
    return reportError(name, error);
  }
}

/** Prints an error the way every command does: message and code for ferry errors, the stack for bugs. */
export function reportError(command: string, error: unknown): number {
  if (error instanceof FerryError) {
    process.stderr.write(`ferry ${command}: ${error.message} [${error.code}]\n`);
    return 1;
  }
  if (error instanceof TypeError && (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`ferry ${command}: ${error.message}. Run \`ferry ${command} --help\` for its options.\n`);
    return 2;
  }
  process.stderr.write(`ferry ${command}: unexpected failure (a bug in ferry, please report it):\n`);
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return 1;
}
