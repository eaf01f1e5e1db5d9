/**
 * Declarations without a tsc process. Sources that follow TypeScript's `isolatedDeclarations` rules (exported
 * functions state their return types, exported values their types, …) have declarations that can be written from
 * each file alone, so oxc-transform writes them in process, in milliseconds, where a tsc process takes hundreds.
 *
 * Starting at each expose's source, the relative specifiers left in the emitted declarations are resolved as
 * TypeScript resolves them (`moduleResolution: bundler`, `allowImportingTsExtensions`, no `allowJs`) and followed;
 * existing `.d.ts` files are taken as they are. The result is the `files` map that tsc's output gives
 * `bundleExposeTypes()` (types-bundle.ts), so the packaging is shared. When a reached file breaks the rules, or a
 * specifier leads nowhere TypeScript would go, the answer is the reason instead, and the caller runs tsc for the
 * whole build.
 *
 * Nothing here type-checks: a type error in a correctly annotated source goes through as written.
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type * as Oxc from 'oxc-transform';
import type { ResolvedConfig } from './config.ts';
import { DECLARATION_EXTENSION, namesFolder, relativeSpecifiers, resolveRelative } from './types-bundle.ts';

/** The declaration files of every expose, or why they cannot be made without tsc. */
export type IsolatedDeclarations =
  | {
      ok: true;
      /** Paths relative to the project root (`src/user.d.ts`, `/`-separated) to declaration text. */
      files: Map<string, string>;
      /** Each expose key's own file among `files`. */
      entries: Map<string, string>;
    }
  | { ok: false; reason: string };

/** Thrown inside the walk to stop it; turned into `{ ok: false, reason }`. */
class NotIsolated extends Error {}

/** A TypeScript source (or declaration) file: `.ts`, `.mts`, `.cts`, `.tsx`. */
export const TS_SOURCE = /\.(?:[mc]?ts|tsx)$/;

/** `src/a.ts` -> `src/a.d.ts`, `a.mts` -> `a.d.mts`, `a.cts` -> `a.d.cts`, `a.tsx` -> `a.d.ts`; `.d.ts` stays. */
export function declarationPath(file: string): string {
  return DECLARATION_EXTENSION.test(file) ? file : file.replace(/\.([mc]?)tsx?$/, '.d.$1ts');
}

let oxc: Promise<typeof Oxc> | undefined;

/** oxc-transform, loaded on first use only: `ferry serve` and hosts never load it. */
function loadOxc(): Promise<typeof Oxc> {
  oxc ??= import('oxc-transform');
  return oxc;
}

async function isFileCached(file: string, cache: Map<string, Promise<boolean>>): Promise<boolean> {
  let found = cache.get(file);
  if (found === undefined) {
    found = stat(file).then(
      (stats) => stats.isFile(),
      () => false,
    );
    cache.set(file, found);
  }
  return found;
}

/**
 * The files TypeScript tries for `base` after taking off `extension` (TypeScript's `tryAddingExtensions`, for the
 * TypeScript and declaration extensions only: without `allowJs`, a `.js` file does not resolve).
 */
function withExtensions(base: string, extension: string): string[] {
  switch (extension) {
    case '.mjs':
    case '.mts':
    case '.d.mts':
      return [`${base}.mts`, `${base}.d.mts`];
    case '.cjs':
    case '.cts':
    case '.d.cts':
      return [`${base}.cts`, `${base}.d.cts`];
    case '.tsx':
    case '.jsx':
      return [`${base}.tsx`, `${base}.ts`, `${base}.d.ts`];
    case '.ts':
    case '.d.ts':
    case '.js':
    case '':
      return [`${base}.ts`, `${base}.tsx`, `${base}.d.ts`];
    default:
      // An arbitrary extension (`./styles.css`) may have a `styles.d.css.ts` beside it.
      return [`${base}.d${extension}.ts`];
  }
}

/**
 * The file a relative specifier in `from` resolves to, in TypeScript's order: the specifier with its extension
 * replaced (`./a.js` -> `a.ts`, a `.ts` source before a `.d.ts`), then with one added (`./a` -> `a.ts`), then the
 * folder's `index`. Undefined when none exists, or when the folder has a package.json (its `types` field is
 * tsc's business).
 *
 * @example
 * ```ts
 * await resolveDeclarationSource('/p/src/a.ts', './user.js', new Map()); // '/p/src/user.ts'
 * ```
 */
export async function resolveDeclarationSource(
  from: string,
  specifier: string,
  cache: Map<string, Promise<boolean>>,
): Promise<string | undefined> {
  const path = resolve(dirname(from), specifier);
  const candidates: string[] = [];
  if (!namesFolder(specifier)) {
    const name = path.slice(path.lastIndexOf(sep) + 1);
    const extension =
      /\.d\.[mc]?ts$|\.[mc]?[jt]s$|\.[jt]sx$/.exec(name)?.[0] ??
      (name.lastIndexOf('.') > 0 ? name.slice(name.lastIndexOf('.')) : '');
    if (extension !== '') candidates.push(...withExtensions(path.slice(0, -extension.length), extension));
    candidates.push(...withExtensions(path, ''));
  }
  for (const candidate of candidates) if (await isFileCached(candidate, cache)) return candidate;
  if (await isFileCached(join(path, 'package.json'), cache)) return undefined;
  for (const candidate of withExtensions(join(path, 'index'), ''))
    if (await isFileCached(candidate, cache)) return candidate;
  return undefined;
}

/** `/p/src/a.ts` -> `src/a.ts`, or undefined outside the project (tsc's `rootDir` would refuse it too). */
function projectPath(root: string, file: string): string | undefined {
  const path = relative(root, file);
  if (path === '' || path.startsWith(`..${sep}`) || path === '..' || isAbsolute(path)) return undefined;
  return path.split(sep).join('/');
}

/**
 * The declaration files of every expose of `config`, written with oxc-transform under the isolatedDeclarations
 * rules, or the reason tsc is needed (a file that breaks the rules, a specifier that resolves to no TypeScript or
 * declaration file, a file outside the project, oxc-transform not loadable on this platform).
 *
 * @example
 * ```ts
 * const result = await isolatedExposeDeclarations(config);
 * if (result.ok) result.files.get(result.entries.get('./tokenValidator')!); // 'export declare function …'
 * ```
 */
export async function isolatedExposeDeclarations(config: ResolvedConfig): Promise<IsolatedDeclarations> {
  let transform: typeof Oxc;
  try {
    transform = await loadOxc();
  } catch (error) {
    return { ok: false, reason: `oxc-transform could not be loaded: ${(error as Error).message}` };
  }
  const files = new Map<string, string>();
  /** The source of each key of `files`, to catch two sources with one declaration path (`a.ts` and `a.tsx`). */
  const sourceOf = new Map<string, string>();
  /** Every relative specifier followed, with the key it must resolve to in `files`. */
  const links: Array<{ from: string; specifier: string; to: string }> = [];
  const exists = new Map<string, Promise<boolean>>();
  const keyOf = (source: string): string => {
    const path = projectPath(config.root, source);
    if (path === undefined) throw new NotIsolated(`${source} is outside the project ${config.root}`);
    if (!TS_SOURCE.test(path)) throw new NotIsolated(`${path} is not a TypeScript file`);
    const key = declarationPath(path);
    const other = sourceOf.get(key);
    if (other !== undefined && other !== source) throw new NotIsolated(`${other} and ${source} both declare ${key}`);
    sourceOf.set(key, source);
    return key;
  };
  /** Emits (or takes) the declarations of `source`; returns the sources they import. */
  const visit = async (source: string): Promise<string[]> => {
    const key = keyOf(source);
    const text = await readFile(source, 'utf8');
    let declarations = text;
    if (!DECLARATION_EXTENSION.test(source)) {
      const result = transform.isolatedDeclarationSync(source, text);
      if (result.errors.length > 0) {
        const more = result.errors.length > 1 ? ` (and ${result.errors.length - 1} more)` : '';
        throw new NotIsolated(`${projectPath(config.root, source)}: ${result.errors[0]!.message}${more}`);
      }
      declarations = result.code;
    }
    files.set(key, declarations);
    return Promise.all(
      relativeSpecifiers(declarations).map(async (specifier) => {
        const target = await resolveDeclarationSource(source, specifier, exists);
        if (target === undefined) {
          throw new NotIsolated(`${key} imports ${specifier}, which resolves to no TypeScript or .d.ts file`);
        }
        links.push({ from: key, specifier, to: keyOf(target) });
        return target;
      }),
    );
  };

  try {
    for (const expose of config.exposes) {
      if (!TS_SOURCE.test(expose.import)) {
        throw new NotIsolated(`exposes[${JSON.stringify(expose.key)}] is not TypeScript`);
      }
    }
    const entries = new Map(config.exposes.map((expose) => [expose.key, keyOf(expose.import)]));
    // Breadth first, one wave of reads at a time; imports may form cycles, so each source is visited once.
    const seen = new Set(config.exposes.map((expose) => expose.import));
    for (let wave = [...seen]; wave.length > 0; ) {
      const imported = (await Promise.all(wave.map(visit))).flat();
      wave = [...new Set(imported)].filter((source) => !seen.has(source));
      for (const source of wave) seen.add(source);
    }
    // The packaging resolves specifiers among the emitted files by name alone; it must land where TypeScript did.
    for (const link of links) {
      if (resolveRelative(link.from, link.specifier, files) !== link.to) {
        throw new NotIsolated(
          `${link.from} imports ${link.specifier}, which the packaging would not resolve to ${link.to}`,
        );
      }
    }
    return { ok: true, files, entries };
  } catch (error) {
    // Anything else (an unreadable file) is no reason to fail the build either: tsc gets its turn and reports it.
    return { ok: false, reason: error instanceof NotIsolated ? error.message : String(error) };
  }
}
