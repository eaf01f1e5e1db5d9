/**
 * Resolving `exposes`: checking each key, finding each source file as a bundler would, and choosing the file name
 * stem of its bundle. A missing file is an {@link ExposeNotFoundError} naming the expose and the path tried.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ExposeNotFoundError } from '../common/errors.ts';
import { invalidOption, isPlainObject, type OptionSource, rejectUnknownKeys } from '../common/options.ts';
import { isExposeKey } from '../manifest/index.ts';

/** One expose after validation. */
export interface ResolvedExpose {
  /** As written in `exposes`: `./tokenValidator`. */
  readonly key: string;
  /** The file name stem of its bundle: `./tokenValidator` -> `tokenValidator`, `./utils/a` -> `utils-a`, `.` -> `index`. */
  readonly name: string;
  /** Absolute path of the source file. */
  readonly import: string;
}

const SOURCE_EXTENSIONS = ['.ts', '.mts', '.cts', '.tsx', '.js', '.mjs', '.cjs', '.jsx'];

async function isSourceFile(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

/** `./tokenValidator` -> `tokenValidator`, `./utils/a` -> `utils-a`, `.` -> `index` (`$` is not file-name safe). */
export function exposeFileStem(key: string): string {
  return key === '.' ? 'index' : key.slice(2).split('/').join('-').replaceAll('$', '_');
}

function exposeOption(key: string): string {
  return `exposes[${JSON.stringify(key)}]`;
}

/** Resolves an expose's source file as a bundler would: the exact path, then with an extension, then an index. */
async function resolveExposeFile(root: string, key: string, path: string, source: OptionSource): Promise<string> {
  const base = resolve(root, path);
  const candidates = [
    base,
    ...SOURCE_EXTENSIONS.map((ext) => base + ext),
    ...SOURCE_EXTENSIONS.map((ext) => resolve(base, `index${ext}`)),
  ];
  for (const candidate of candidates) if (await isSourceFile(candidate)) return candidate;
  throw new ExposeNotFoundError(
    `${source.label}: ${exposeOption(key)} names ${path}, but ${base} does not exist. ` +
      'Fix the path (relative to the project root) or create the file.',
    { expose: key, file: base, option: exposeOption(key) },
  );
}

/**
 * Validates `exposes` and resolves every source file.
 *
 * @example
 * ```ts
 * await resolveExposes({ './a': './src/a.ts' }, root, source); // [{ key: './a', name: 'a', import: '/…/src/a.ts' }]
 * ```
 */
export async function resolveExposes(raw: unknown, root: string, source: OptionSource): Promise<ResolvedExpose[]> {
  if (raw === undefined) {
    invalidOption(source, 'exposes', "is required: list the modules hosts may import, e.g. { './x': './src/x.ts' }.");
  }
  if (!isPlainObject(raw) || Object.keys(raw).length === 0) {
    invalidOption(
      source,
      'exposes',
      "must be a non-empty object such as { './tokenValidator': './src/tokenValidator.ts' }.",
    );
  }
  const exposes: ResolvedExpose[] = [];
  const stems = new Map<string, string>();
  for (const [key, value] of Object.entries(raw)) {
    const option = exposeOption(key);
    if (!isExposeKey(key)) {
      invalidOption(source, option, 'is not an expose key: write "./name" (letters, digits, "_", "-", "/"), or "." .');
    }
    let path: unknown = value;
    if (isPlainObject(value)) {
      rejectUnknownKeys(value, { source, parent: option }, { known: ['import'] });
      path = value.import;
    }
    if (Array.isArray(path)) invalidOption(source, option, 'must name one file; ferry bundles one entry per expose.');
    if (typeof path !== 'string' || path === '') {
      invalidOption(source, option, `must be a file path such as "./src/x.ts" or { import: "./src/x.ts" }.`);
    }
    const name = exposeFileStem(key);
    const clash = stems.get(name);
    if (clash !== undefined) {
      invalidOption(
        source,
        option,
        `would be written to the same file as exposes[${JSON.stringify(clash)}]; rename one.`,
      );
    }
    stems.set(name, key);
    exposes.push(Object.freeze({ key, name, import: await resolveExposeFile(root, key, path, source) }));
  }
  return exposes;
}
