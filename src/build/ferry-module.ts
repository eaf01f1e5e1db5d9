/**
 * ES module output as a ferry module: the body of an async function that the host compiles with node:vm (never its
 * ESM loader, which keeps every module it ever loaded, so replaced versions could not be freed). esbuild bundles the
 * exposes as ES modules (top-level await, `import.meta`, `import()` of split chunks all work there); this step rewrites
 * only the module syntax of that output, found with es-module-lexer, on the same lines so the source maps still hold:
 *
 * - `import { a as b } from "x";` -> `const __fm1 = await __ferryImport("x"), { a: b } = __fm1;` (likewise default,
 *   namespace and side-effect imports; `export * from "x"` merges x's names into the namespace);
 * - `import("x")` -> `__fImp("x")` (the same length: columns after it stay right);
 * - the final `export { a as b };` -> the export list as a literal of getters,
 *   `{ __proto__: null, get "b"() { return a; } }`, returned as the namespace through
 *   `__ferryNamespace.accessors(list, [stars])` (through `__ferryNamespace` in the older form, name -> `() => a`, on
 *   a host that predates `accessors`);
 * - the whole body runs inside `return (async () => { … })();`, so top-level await works.
 *
 * `import.meta` never reaches this step: the bundler replaces it with a per-module object (bundle.ts).
 */
import { BuildError } from '../common/errors.ts';

type Lexer = typeof import('es-module-lexer');
let lexer: Promise<Lexer> | undefined;

async function loadLexer(): Promise<Lexer> {
  lexer ??= import('es-module-lexer').then(
    async (module) => {
      await module.init;
      return module;
    },
    (cause: unknown) => {
      lexer = undefined;
      throw new BuildError(
        'ferry build needs es-module-lexer, which is not installed here (it is an optional dependency of ferry, ' +
          'left out by `npm install --omit=optional`). Install it where you build: npm install --save-dev es-module-lexer',
        { cause },
      );
    },
  );
  return lexer;
}

/** The names a static import binds, from its clause (`d`, `* as ns`, `{ a, b as c }`, or `d, { … }`). */
function bindings(clause: string, source: string): string[] {
  const out: string[] = [];
  let rest = clause.trim();
  const fail = (): never => {
    throw new BuildError(`ferry build cannot read the import clause ${JSON.stringify(clause)} in ${source}.`);
  };
  const leading = /^([A-Za-z_$][\w$]*)\s*(?:,\s*|$)/.exec(rest);
  if (leading && leading[1] !== '') {
    out.push(`default: ${leading[1]}`);
    rest = rest.slice(leading[0].length);
  }
  if (rest.startsWith('*')) {
    const namespace = /^\*\s*as\s+([A-Za-z_$][\w$]*)$/.exec(rest) ?? fail();
    return [...out, `...${namespace[1]}`];
  }
  if (rest === '') return out;
  const named = /^\{([\s\S]*)\}$/.exec(rest) ?? fail();
  for (const part of named[1]!.split(',')) {
    const spec = part.trim();
    if (spec === '') continue;
    const match = /^(?:([A-Za-z_$][\w$]*)|("(?:[^"\\]|\\.)*"))(?:\s+as\s+([A-Za-z_$][\w$]*))?$/.exec(spec) ?? fail();
    const imported = match[1] ?? match[2]!;
    out.push(`${imported}: ${match[3] ?? imported}`);
  }
  return out;
}

/** The newlines of `text`, to keep a replacement on as many lines as the code it replaces. */
const newlines = (text: string) => '\n'.repeat(text.split('\n').length - 1);

/**
 * Rewrites esbuild's ES module output `code` (of output file `file`) as a ferry module. `rename` maps a relative
 * specifier to the file name it was written under.
 */
export async function toFerryModule(
  code: string,
  file: string,
  rename: (specifier: string) => string,
): Promise<string> {
  const { parse } = await loadLexer();
  const [imports, exports] = parse(code, file);
  const edits: Array<{ start: number; end: number; text: string }> = [];
  const stars: string[] = [];
  let count = 0;
  for (const entry of imports) {
    if (entry.d === -2) {
      throw new BuildError(`import.meta is left in ${file}: the bundler should have replaced it (a bug in ferry).`);
    }
    const specifier = entry.n === undefined ? undefined : rename(entry.n);
    if (entry.d >= 0) {
      // import("x"): the keyword becomes a function of the same length; a non-literal specifier is passed through.
      edits.push({ start: entry.ss, end: entry.ss + 6, text: '__fImp' });
      if (specifier !== undefined && specifier !== entry.n) {
        edits.push({ start: entry.s, end: entry.e, text: JSON.stringify(specifier).slice(1, -1) });
      }
      continue;
    }
    if (specifier === undefined) throw new BuildError(`ferry build cannot read an import in ${file} (a bug in ferry).`);
    const statement = code.slice(entry.ss, entry.se);
    const name = `__fm${++count}`;
    const load = `const ${name} = await __ferryImport(${JSON.stringify(specifier)})`;
    let text: string;
    if (/^export\s*\*\s*from\b/.test(statement)) {
      stars.push(name);
      text = `${load};`;
    } else if (/^export\b/.test(statement)) {
      throw new BuildError(`ferry build cannot rewrite ${JSON.stringify(statement)} in ${file} (a bug in ferry).`);
    } else {
      const clause = /^import\s*([\s\S]*?)\s*from\s*["']/.exec(statement)?.[1];
      const names = clause === undefined ? [] : bindings(clause, file);
      const spread = names.find((part) => part.startsWith('...'));
      const plain = names.filter((part) => !part.startsWith('...'));
      const parts = [load];
      if (spread) parts.push(`${spread.slice(3)} = ${name}`);
      if (plain.length > 0) parts.push(`{ ${plain.join(', ')} } = ${name}`);
      text = `${parts.join(', ')};`;
    }
    edits.push({ start: entry.ss, end: entry.se, text: text + newlines(statement) });
  }
  // `export default <expression>;` (esbuild's form for a CommonJS entry): the expression is kept in a binding, and
  // the namespace is returned after it.
  let defaultAt: number | undefined;
  const named = exports.filter((entry) => {
    if (entry.ln !== undefined || entry.n !== 'default') return true;
    const keyword = /^export\s+default\s/.exec(code.slice(entry.ss));
    if (!keyword) throw new BuildError(`ferry build cannot read the default export in ${file} (a bug in ferry).`);
    edits.push({ start: entry.ss, end: entry.ss + keyword[0].length, text: 'const __fdefault = ' });
    defaultAt = entry.ss;
    return false;
  });
  if (exports.length > 0 || stars.length > 0) {
    // The export list as getters in a null-prototype object literal, which the host freezes into the namespace as
    // it is (src/common/module-namespace.ts, namespaceOfAccessors): V8 makes such a literal a dictionary at once and
    // nothing is then defined name by name. The list of functions of earlier builds took a hidden class per name and
    // was then copied into a namespace: 150 modules of ~20 KB ran in 34 ms, now 23 (bench/ROUNDS.md, twelfth round).
    // A host without `accessors` (an older ferry) is given that older form, made from the same getters. `get "x"()`
    // defines an accessor named x for any name, `__proto__` included.
    const getters = named.map((entry) => `get ${JSON.stringify(entry.n)}() { return ${entry.ln}; }`);
    if (defaultAt !== undefined) getters.push('get "default"() { return __fdefault; }');
    const statementStart = named[0]?.ss;
    const list = `{ __proto__: null, ${getters.join(', ')} }`;
    const older = 'Object.fromEntries(Object.keys(__fx).map((k) => [k, Object.getOwnPropertyDescriptor(__fx, k).get]))';
    const starList = `[${stars.join(', ')}]`;
    const namespace =
      `return ((__fx) => __ferryNamespace.accessors ? __ferryNamespace.accessors(__fx, ${starList}) : ` +
      `__ferryNamespace(${older}, ${starList}))(${list});`;
    if (statementStart === undefined) {
      edits.push({ start: code.length, end: code.length, text: `\n${namespace}` });
    } else {
      const end = code.indexOf(';', statementStart) + 1;
      if (end === 0 || named.some((entry) => entry.ss !== statementStart) || (defaultAt ?? 0) > statementStart) {
        throw new BuildError(`ferry build expected one export statement at the end of ${file} (a bug in ferry).`);
      }
      edits.push({ start: statementStart, end, text: namespace + newlines(code.slice(statementStart, end)) });
    }
  }
  let out = '';
  let at = 0;
  for (const edit of edits.sort((a, b) => a.start - b.start)) {
    out += code.slice(at, edit.start) + edit.text;
    at = edit.end;
  }
  out += code.slice(at);
  return `return (async () => { "use strict"; ${out}\n})();\n`;
}
