/**
 * Packaging tsc's declaration output into one self-contained file per expose, so a host needs no folder tree: every
 * emitted `.d.ts` the expose reaches becomes `declare module "<remote>/__types/<expose>/<path>" { … }` with its
 * relative imports rewritten to those ambient names, and the expose itself becomes `declare module "<remote>/<expose>"`
 * re-exporting its entry. The remote's name is the placeholder {@link REMOTE_PLACEHOLDER}: `ferry types` replaces it
 * with the alias the host imports the remote by. Non-relative imports (`jsonwebtoken`, `node:*`) are left as they are
 * and resolve from the host's own node_modules and @types.
 */
import { posix } from 'node:path';

/** Stands for the remote's name in built declaration files; `ferry types` substitutes the host's alias. */
export const REMOTE_PLACEHOLDER = '__FERRY_REMOTE__';

/**
 * Relative module specifiers (`./x`, `../x`, `.`, `..`) in `from '…'`, `import '…'`, `import('…')` and
 * `require('…')` (`import x = require('…')`).
 */
const RELATIVE_SPECIFIER =
  /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)(["'])(\.{1,2}(?:\/[^"'\n]*)?)\2/g;
const REFERENCE = /^\/\/\/\s*<reference\s+[^>]*\/>\s*$/;
/** A declaration file's extension: `.d.ts`, `.d.mts`, `.d.cts`. */
export const DECLARATION_EXTENSION = /\.d\.(?:m|c)?ts$/;
const SOURCE_EXTENSION = /\.(?:d\.)?(?:[mc]?ts|tsx|[mc]?js|jsx)$/;

/** `src/helper.d.ts` -> `src/helper`. */
function moduleId(file: string): string {
  return file.replace(DECLARATION_EXTENSION, '');
}

/**
 * The relative module specifiers in a declaration file's text, in order, as {@link bundleExposeTypes} rewrites them.
 *
 * @example
 * ```ts
 * relativeSpecifiers('import type { U } from "./user.ts";\nexport * from "../x";'); // ['./user.ts', '../x']
 * ```
 */
export function relativeSpecifiers(text: string): string[] {
  return [...text.matchAll(RELATIVE_SPECIFIER)].map((match) => match[3]!);
}

/**
 * Whether a relative specifier names a folder, as TypeScript reads it (`.`, `..`, `./x/..`, `./x/`): it resolves to
 * the folder's index only.
 *
 * @example
 * ```ts
 * namesFolder('./x/'); // true
 * namesFolder('./x'); // false: x.ts first, then x/index.ts
 * ```
 */
export function namesFolder(specifier: string): boolean {
  return /(?:^|\/)\.{0,2}$/.test(specifier);
}

/**
 * The declaration file among `files` (paths relative to the project root) that a relative specifier in `from`
 * points at, as the packaging resolves it: the specifier without its extension, plus `.d.ts`, `.d.mts`, `.d.cts` or
 * `/index.d.ts`.
 *
 * @example
 * ```ts
 * resolveRelative('src/a.d.ts', './b.ts', new Map([['src/b.d.ts', '']])); // 'src/b.d.ts'
 * ```
 */
export function resolveRelative(
  from: string,
  specifier: string,
  files: ReadonlyMap<string, string>,
): string | undefined {
  const path = posix.normalize(posix.join(posix.dirname(from), specifier)).replace(/\/$/, '');
  if (namesFolder(specifier)) {
    const index = path === '.' ? 'index.d.ts' : `${path}/index.d.ts`;
    return files.has(index) ? index : undefined;
  }
  const base = path.replace(SOURCE_EXTENSION, '');
  for (const candidate of [`${base}.d.ts`, `${base}.d.mts`, `${base}.d.cts`, `${base}/index.d.ts`]) {
    if (files.has(candidate)) return candidate;
  }
  return undefined;
}

/** The module specifier hosts write for an expose key: `./tokenValidator` -> `<remote>/tokenValidator`, `.` -> `<remote>`. */
export function exposeSpecifier(remote: string, key: string): string {
  return key === '.' ? remote : `${remote}/${key.slice(2)}`;
}

/**
 * One expose's declaration file. `files` maps paths relative to the project root (`src/helper.d.ts`, `/`-separated)
 * to what tsc emitted; `entry` is the expose's own declaration file among them.
 *
 * @example
 * ```ts
 * const text = bundleExposeTypes({
 *   key: './tokenValidator', name: 'tokenValidator', entry: 'src/tokenValidator.d.ts',
 *   files: new Map([['src/tokenValidator.d.ts', 'export declare const maxAge: number;\n']]),
 * });
 * // declare module "__FERRY_REMOTE__/tokenValidator" { export * from "__FERRY_REMOTE__/__types/tokenValidator/src/tokenValidator"; }
 * ```
 */
export function bundleExposeTypes(expose: {
  key: string;
  name: string;
  entry: string;
  files: ReadonlyMap<string, string>;
}): string {
  // Per expose, so that two exposes' files never declare the same ambient module twice in one host.
  const prefix = `${REMOTE_PLACEHOLDER}/__types/${expose.name}/`;
  const references = new Set<string>();
  const blocks: string[] = [];
  const seen = new Set<string>([expose.entry]);
  const queue = [expose.entry];
  let hasDefault = false;
  while (queue.length > 0) {
    const file = queue.shift()!;
    const text = expose.files.get(file) ?? '';
    const body: string[] = [];
    for (const line of text.split('\n')) {
      // Triple-slash directives are only valid at the top of a file; `path` ones point into a tree hosts lack.
      if (REFERENCE.test(line.trim())) {
        if (!/\bpath\s*=/.test(line)) references.add(line.trim());
        continue;
      }
      if (line.startsWith('//# sourceMappingURL=')) continue;
      // Top-level statements of a .d.ts start in column 0; inside `declare module` they are already ambient.
      body.push(line.replace(/^(export\s+)?declare\s+(?!global\b|module\b|namespace\b)/, '$1'));
    }
    const rewritten = body
      .join('\n')
      .replace(RELATIVE_SPECIFIER, (match, lead: string, quote: string, spec: string) => {
        const target = resolveRelative(file, spec, expose.files);
        if (target === undefined) return match;
        if (!seen.has(target)) {
          seen.add(target);
          queue.push(target);
        }
        return `${lead}${quote}${prefix}${moduleId(target)}${quote}`;
      });
    if (file === expose.entry) hasDefault = /^export\s+default\b|\bas\s+default\b/m.test(rewritten);
    blocks.push(`declare module "${prefix}${moduleId(file)}" {\n${indent(rewritten.trim())}\n}`);
  }
  const entryModule = `${prefix}${moduleId(expose.entry)}`;
  const exposeBlock = [
    `declare module "${exposeSpecifier(REMOTE_PLACEHOLDER, expose.key)}" {`,
    `  export * from "${entryModule}";`,
    ...(hasDefault ? [`  export { default } from "${entryModule}";`] : []),
    '}',
  ].join('\n');
  return [
    ...references,
    `// Types of ${exposeSpecifier(REMOTE_PLACEHOLDER, expose.key)}, written by \`ferry build\`.`,
    exposeBlock,
    ...blocks,
    '',
  ].join('\n');
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => (line === '' ? line : `  ${line}`))
    .join('\n');
}
