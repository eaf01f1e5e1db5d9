/**
 * Declaration files for the exposes, packaged per expose by {@link bundleExposeTypes}. Two ways to the declarations:
 * - the fast path (isolated-declarations.ts): when every file the exposes' declarations reach follows TypeScript's
 *   isolatedDeclarations rules, oxc-transform writes them in process. It does not type-check, and needs no
 *   `typescript` installed.
 * - otherwise, for the whole build: the remote project's own `typescript` runs (its `tsc` binary, as a child process
 *   of this Node) over a generated tsconfig with `emitDeclarationOnly`.
 * Types are a convenience for hosts, never a reason to fail a build: no TypeScript installed (when tsc is needed),
 * JavaScript sources, type errors found by tsc or a crashing tsc each become one warning line.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { runNode } from '../common/run-node.ts';
import type { ResolvedConfig } from './config.ts';
import { declarationPath, isolatedExposeDeclarations, TS_SOURCE } from './isolated-declarations.ts';
import { bundleExposeTypes } from './types-bundle.ts';

/** One expose's packaged declaration file, ready to write. */
export interface ExposeTypes {
  /** The expose key (`./tokenValidator`). */
  key: string;
  /** `tokenValidator.<hash>.d.ts` */
  file: string;
  code: Uint8Array;
}

export interface TypesResult {
  types: ExposeTypes[];
  warnings: string[];
  /**
   * Who wrote the declarations: oxc-transform in process (`isolated`), or the project's `tsc`, with the reason the
   * fast path could not be taken (`slowReason`, shown by `ferry build` so a slow build says why). Absent: none.
   */
  by?: 'isolated' | 'tsc';
  slowReason?: string;
}

/**
 * The `tsc` script of the `typescript` package installed for `root` (found as Node would, walking up), and the
 * node_modules folder it is in; undefined when none is installed.
 */
export async function findTsc(root: string): Promise<{ bin: string; nodeModules: string } | undefined> {
  for (let dir = resolve(root); ; dir = dirname(dir)) {
    const pkgDir = join(dir, 'node_modules', 'typescript');
    try {
      const pkg = JSON.parse(await readFile(join(pkgDir, 'package.json'), 'utf8')) as { bin?: unknown };
      const bin = typeof pkg.bin === 'string' ? pkg.bin : (pkg.bin as Record<string, unknown> | undefined)?.tsc;
      if (typeof bin === 'string' && existsSync(join(pkgDir, bin))) {
        return { bin: join(pkgDir, bin), nodeModules: join(dir, 'node_modules') };
      }
    } catch {
      // Not installed here: keep walking up.
    }
    if (dirname(dir) === dir) return undefined;
  }
}

async function listFiles(dir: string, base = dir): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await listFiles(path, base)));
    else found.push(relative(base, path).split(sep).join('/'));
  }
  return found;
}

/** The generated tsconfig: the project's own settings when it has a tsconfig.json, overridden where emit needs it. */
function tsconfigFor(config: ResolvedConfig, outDir: string, configDir: string): object {
  const own = join(config.root, 'tsconfig.json');
  const emit = {
    noEmit: false,
    declaration: true,
    emitDeclarationOnly: true,
    declarationMap: false,
    noEmitOnError: false,
    composite: false,
    incremental: false,
    skipLibCheck: true,
    // Remotes are bundled by esbuild, so `.ts` extensions and extensionless imports are both fine in their sources.
    allowImportingTsExtensions: true,
    rootDir: config.root,
    outDir,
    declarationDir: outDir,
  };
  const files = config.exposes.map((expose) => expose.import);
  if (existsSync(own)) return { extends: relative(configDir, own).split(sep).join('/'), compilerOptions: emit, files };
  const nodeTypes = existsSync(join(config.root, 'node_modules', '@types', 'node'));
  return {
    compilerOptions: {
      target: 'es2023',
      // A remote runs on Node: no DOM library (parsing lib.dom.d.ts was most of the declaration time).
      lib: ['es2023'],
      module: 'preserve',
      moduleResolution: 'bundler',
      esModuleInterop: true,
      strict: true,
      types: nodeTypes ? ['node'] : [],
      ...emit,
    },
    files,
  };
}

function typesHash(code: Uint8Array): string {
  return createHash('sha256').update(code).digest('hex').slice(0, 10);
}

/** Packages the declarations of each expose found among `files`; `entries` maps expose keys to their file. */
function packageTypes(
  config: ResolvedConfig,
  files: ReadonlyMap<string, string>,
  entries: ReadonlyMap<string, string>,
  warnings: string[],
): ExposeTypes[] {
  const types: ExposeTypes[] = [];
  for (const expose of config.exposes) {
    const entry = entries.get(expose.key)!;
    if (!files.has(entry)) {
      warnings.push(`tsc emitted no declarations for exposes[${JSON.stringify(expose.key)}] (${entry}); skipped.`);
      continue;
    }
    const code = new TextEncoder().encode(bundleExposeTypes({ key: expose.key, name: expose.name, entry, files }));
    types.push({ key: expose.key, file: `${expose.name}.${typesHash(code)}.d.ts`, code });
  }
  return types;
}

function none(why: string): TypesResult {
  return { types: [], warnings: [`no type declarations for hosts: ${why}`] };
}

/**
 * Emits and packages the declaration files of every expose of `config`: through oxc-transform when the sources
 * follow the isolatedDeclarations rules, else through the project's tsc.
 *
 * @example
 * ```ts
 * const { types, warnings } = await emitExposeTypes(await loadConfig({ root }));
 * types[0].file; // 'tokenValidator.1a2b3c4d5e.d.ts'
 * ```
 */
export async function emitExposeTypes(config: ResolvedConfig): Promise<TypesResult> {
  if (config.dts === false) return none('`dts` is false in the config.');
  if (!config.exposes.every((expose) => TS_SOURCE.test(expose.import))) {
    return none(
      'the exposed sources are not all TypeScript (.ts, .mts, .cts, .tsx); set `dts: false` to silence this.',
    );
  }
  const isolated = await isolatedExposeDeclarations(config);
  if (isolated.ok) {
    const warnings: string[] = [];
    return { types: packageTypes(config, isolated.files, isolated.entries, warnings), warnings, by: 'isolated' };
  }
  return { ...(await emitTypesWithTsc(config)), slowReason: isolated.reason };
}

/**
 * The tsc path alone (what {@link emitExposeTypes} falls back to): the project's own tsc emits the declarations of
 * every source the exposes reach, type-checking them on the way.
 *
 * @example
 * ```ts
 * const { types, warnings } = await emitTypesWithTsc(config); // warnings name type errors, if any
 * ```
 */
export async function emitTypesWithTsc(config: ResolvedConfig): Promise<TypesResult> {
  const tsc = await findTsc(config.root);
  if (tsc === undefined) {
    return none(
      `no \`typescript\` package is installed for ${config.root}; install it (npm i -D typescript) or set \`dts: false\`.`,
    );
  }
  // In the project's node_modules (not the OS temp folder) so that its packages and @types resolve as usual.
  const work = join(tsc.nodeModules, '.cache', 'ferry', `dts-${process.pid}-${randomBytes(4).toString('hex')}`);
  const outDir = join(work, 'out');
  try {
    await mkdir(work, { recursive: true });
    const tsconfig = join(work, 'tsconfig.json');
    await writeFile(tsconfig, JSON.stringify(tsconfigFor(config, outDir, work), null, 2));
    const { code, output } = await runNode(tsc.bin, ['-p', tsconfig, '--pretty', 'false'], config.root);
    const warnings: string[] = [];
    const emitted = existsSync(outDir) ? await listFiles(outDir) : [];
    const files = new Map<string, string>();
    for (const file of emitted) files.set(file, await readFile(join(outDir, file), 'utf8'));
    const errors = output
      .split('\n')
      .filter((line) => /error TS\d+/.test(line))
      .map((line) => line.replace(`${config.root}${sep}`, ''));
    if (code !== 0 && errors.length > 0) {
      warnings.push(
        `type errors in the remote's sources (declarations were still emitted; hosts see the types as written):\n  ${errors.slice(0, 10).join('\n  ')}${errors.length > 10 ? `\n  … and ${errors.length - 10} more` : ''}`,
      );
    } else if (code !== 0) {
      warnings.push(`tsc (${tsc.bin}) exited with ${code}: ${output.trim().split('\n').slice(0, 5).join(' ')}`);
    }
    const entries = new Map(
      config.exposes.map((expose) => [
        expose.key,
        declarationPath(relative(config.root, expose.import).split(sep).join('/')),
      ]),
    );
    return { types: packageTypes(config, files, entries, warnings), warnings, by: 'tsc' };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
