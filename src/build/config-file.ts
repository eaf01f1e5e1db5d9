/**
 * Finding and loading `ferry.config.*`. TypeScript and JavaScript configs are bundled with esbuild into a temporary
 * `.mjs` beside the original (so relative imports and the project's node_modules resolve as written), imported, and
 * the temporary file is always removed. Packages stay external: the config imports them from node_modules.
 */
import { randomBytes } from 'node:crypto';
import { access, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Message } from 'esbuild';
import { ConfigLoadError, ConfigNotFoundError } from '../common/errors.ts';
import { loadEsbuild } from './esbuild.ts';

/** The names looked for in the project root, in order. */
export const CONFIG_FILES = [
  'ferry.config.ts',
  'ferry.config.mts',
  'ferry.config.mjs',
  'ferry.config.js',
  'ferry.config.json',
] as const;

const LOADABLE = new Set(['.ts', '.mts', '.cts', '.mjs', '.js', '.cjs', '.json']);

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

/**
 * The config file to use: `configFile` (resolved against `root`) if given, else the first of {@link CONFIG_FILES}
 * in `root`. Throws {@link ConfigNotFoundError} naming what was looked for.
 *
 * @example
 * ```ts
 * const file = await findConfigFile('/srv/auth'); // '/srv/auth/ferry.config.ts'
 * ```
 */
export async function findConfigFile(root: string, configFile?: string): Promise<string> {
  if (configFile !== undefined) {
    const file = resolve(root, configFile);
    if (!LOADABLE.has(extname(file))) {
      throw new ConfigNotFoundError(
        `The config file ${file} has an extension ferry cannot load; use one of ${[...LOADABLE].join(', ')}.`,
        { file, option: 'config' },
      );
    }
    if (!(await exists(file))) {
      throw new ConfigNotFoundError(`The config file ${file} does not exist. Check the --config path.`, {
        file,
        option: 'config',
      });
    }
    return file;
  }
  for (const name of CONFIG_FILES) {
    const file = join(root, name);
    if (await exists(file)) return file;
  }
  throw new ConfigNotFoundError(
    `No ferry config in ${root}: looked for ${CONFIG_FILES.join(', ')}. Create one (see \`defineRemote\`), ` +
      'or pass --config <file> or --root <dir>.',
    { file: root },
  );
}

async function formatErrors(errors: Message[]): Promise<string> {
  const { formatMessages } = await loadEsbuild();
  return (await formatMessages(errors, { kind: 'error', color: false })).join('').trim();
}

/** Bundles a TS/JS config to a temporary ES module beside it, imports it, and removes the temporary file. */
async function importScript(file: string, root: string): Promise<unknown> {
  const { build } = await loadEsbuild();
  const temp = join(dirname(file), `.${basename(file)}.${process.pid}-${randomBytes(4).toString('hex')}.mjs`);
  try {
    let code: string;
    try {
      const result = await build({
        entryPoints: [file],
        absWorkingDir: root,
        bundle: true,
        write: false,
        format: 'esm',
        platform: 'node',
        target: 'node22',
        packages: 'external',
        logLevel: 'silent',
        // Beside the original, so `import.meta.url` still points into the config's folder.
        sourcemap: 'inline',
      });
      code = result.outputFiles[0]?.text ?? '';
    } catch (cause) {
      const errors = (cause as { errors?: Message[] }).errors;
      const detail = errors ? await formatErrors(errors) : String(cause);
      throw new ConfigLoadError(`Could not compile the config file ${relative(root, file)}:\n${detail}`, {
        file,
        cause,
      });
    }
    await writeFile(temp, code);
    try {
      return await import(pathToFileURL(temp).href);
    } catch (cause) {
      throw new ConfigLoadError(
        `The config file ${relative(root, file)} threw while loading: ${(cause as Error)?.message ?? cause}`,
        { file, cause },
      );
    }
  } finally {
    await rm(temp, { force: true });
  }
}

/**
 * Loads a config file and returns its default export's value (a function is called and awaited), unvalidated.
 *
 * @example
 * ```ts
 * const raw = await loadConfigFile('/srv/auth/ferry.config.ts', '/srv/auth');
 * ```
 */
export async function loadConfigFile(file: string, root: string): Promise<unknown> {
  let value: unknown;
  if (extname(file) === '.json') {
    const text = await readFile(file, 'utf8');
    try {
      value = JSON.parse(text);
    } catch (cause) {
      throw new ConfigLoadError(
        `The config file ${relative(root, file)} is not valid JSON: ${(cause as Error).message}`,
        {
          file,
          cause,
        },
      );
    }
  } else {
    const module = (await importScript(file, root)) as { default?: unknown };
    value = module.default;
    if (value === undefined) {
      throw new ConfigLoadError(
        `The config file ${relative(root, file)} has no default export. Write \`export default defineRemote({ … })\`.`,
        { file },
      );
    }
  }
  if (typeof value === 'function') {
    try {
      value = await (value as () => unknown)();
    } catch (cause) {
      throw new ConfigLoadError(
        `The function exported by ${relative(root, file)} threw: ${(cause as Error)?.message ?? cause}`,
        { file, cause },
      );
    }
  }
  return value;
}
