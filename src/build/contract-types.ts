/**
 * Comparing two releases' declarations with TypeScript's own checker. Both declaration files (as `ferry build`
 * packages them: `declare module "<remote>/<expose>"`) go into one in-memory program, the old one under the remote
 * name `__ferry_old__`, the new one under `__ferry_new__`; every export of the old module is looked up in the new one
 * and the two types are related with `checker.isTypeAssignableTo`:
 *
 * - a value (function, class, constant, enum) is what hosts call and read: the new type must be assignable to the
 *   old one (parameters accept at least as much, returns give no more, no member gone, no overload gone);
 * - a type (interface, type alias) may be read and built by hosts: it must be assignable both ways.
 *
 * A change that passes is `unchanged` when both types have the same shape (signature and parameter counts, member
 * names), else `compatible`. The short reason given for a breaking change (`new required parameter`) is read off
 * the same relation, part by part. TypeScript's compiler API comes from the optional `@typescript/typescript6`
 * package (the project's `typescript` 7 is native and has none), loaded only when two releases' declarations differ.
 */
import { join } from 'node:path';
import type * as TS from '@typescript/typescript6';

/** The verdict on one export. */
export interface ExportVerdict {
  name: string;
  status: 'breaking' | 'compatible' | 'unchanged';
  /** What changed, for people. */
  change: string;
  /** Its declaration before and after, one line each, when it exists in that release. */
  was?: string;
  now?: string;
}

let typescript: Promise<typeof TS | undefined> | undefined;

/** TypeScript's compiler API, or undefined when `@typescript/typescript6` is not installed. Loaded once. */
export function loadTypeScript(): Promise<typeof TS | undefined> {
  typescript ??= import('@typescript/typescript6').then(
    (module) => ((module as unknown as { default?: typeof TS }).default ?? module) as typeof TS,
    () => undefined,
  );
  return typescript;
}

const OLD = '__ferry_old__';
const NEW = '__ferry_new__';

/** `./tokenValidator` -> `<remote>/tokenValidator`, `.` -> `<remote>`. */
function specifier(remote: string, key: string): string {
  return key === '.' ? remote : `${remote}/${key.slice(2)}`;
}

/** A declaration's text on one line, without `export declare`, cut at 160 characters. */
function oneLine(ts: typeof TS, symbol: TS.Symbol | undefined): string | undefined {
  const declarations = symbol?.declarations ?? [];
  if (declarations.length === 0) return undefined;
  const text = declarations
    .map((declaration) =>
      // A variable's declaration is `name: type`; its statement says `const`.
      (ts.isVariableDeclaration(declaration) ? declaration.parent.parent : declaration)
        .getText()
        .replace(/^export\s+(?:declare\s+)?/, '')
        .replace(/^declare\s+/, ''),
    )
    .join(' ')
    .replace(/\s+/g, ' ')
    .trim();
  return text.length > 160 ? `${text.slice(0, 157)}...` : text;
}

/**
 * Compares the declarations of each expose in `pairs` (old and new text, placeholder `placeholder` for the remote's
 * name). `root` is where packages the declarations import (`jsonwebtoken`, `node:*`) resolve from.
 *
 * @example
 * ```ts
 * const verdicts = compareDeclarations(ts, { root, placeholder: '__FERRY_REMOTE__', pairs: [{ key, before, after }] });
 * ```
 */
export function compareDeclarations(
  ts: typeof TS,
  options: { root: string; placeholder: string; pairs: Array<{ key: string; before: string; after: string }> },
): Map<string, ExportVerdict[]> {
  const files = new Map<string, string>();
  options.pairs.forEach(({ before, after }, index) => {
    files.set(join(options.root, `__ferry_contract_${index}_old.d.ts`), before.replaceAll(options.placeholder, OLD));
    files.set(join(options.root, `__ferry_contract_${index}_new.d.ts`), after.replaceAll(options.placeholder, NEW));
  });
  const compilerOptions: TS.CompilerOptions = {
    noEmit: true,
    strict: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2023,
    lib: ['lib.es2023.d.ts'],
    module: ts.ModuleKind.Preserve,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    types: [],
  };
  const host = ts.createCompilerHost(compilerOptions);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (file, language, ...rest) => {
    const text = files.get(file);
    return text === undefined
      ? getSourceFile.call(host, file, language, ...rest)
      : ts.createSourceFile(file, text, language, true);
  };
  host.fileExists = (file) => files.has(file) || fileExists.call(host, file);
  host.readFile = (file) => files.get(file) ?? readFile.call(host, file);
  const program = ts.createProgram({ rootNames: [...files.keys()], options: compilerOptions, host });
  const checker = program.getTypeChecker();
  const modules = new Map(checker.getAmbientModules().map((symbol) => [symbol.name.replace(/^"|"$/g, ''), symbol]));
  const result = new Map<string, ExportVerdict[]>();
  for (const { key } of options.pairs) {
    const before = modules.get(specifier(OLD, key));
    const after = modules.get(specifier(NEW, key));
    // A file not in the layout `ferry build` writes (no `declare module` for the expose) is left out: the caller
    // falls back to names and kinds and says so.
    if (before && after) result.set(key, compareModules(ts, checker, before, after));
  }
  return result;
}

function exportsOf(checker: TS.TypeChecker, module: TS.Symbol): Map<string, TS.Symbol> {
  return new Map(checker.getExportsOfModule(module).map((symbol) => [symbol.name, symbol]));
}

function compareModules(ts: typeof TS, checker: TS.TypeChecker, before: TS.Symbol, after: TS.Symbol): ExportVerdict[] {
  const old = exportsOf(checker, before);
  const now = exportsOf(checker, after);
  const verdicts: ExportVerdict[] = [];
  const resolve = (symbol: TS.Symbol) =>
    symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
  for (const [name, raw] of old) {
    const was = resolve(raw);
    const wasText = oneLine(ts, was);
    const found = now.get(name);
    if (found === undefined) {
      verdicts.push({ name, status: 'breaking', change: 'removed', ...(wasText ? { was: wasText } : {}) });
      continue;
    }
    const next = resolve(found);
    const nowText = oneLine(ts, next);
    const texts = { ...(wasText ? { was: wasText } : {}), ...(nowText ? { now: nowText } : {}) };
    verdicts.push({ name, ...relate(ts, checker, was, next), ...texts });
  }
  for (const [name, raw] of now) {
    if (old.has(name)) continue;
    const nowText = oneLine(ts, resolve(raw));
    verdicts.push({ name, status: 'compatible', change: 'added', ...(nowText ? { now: nowText } : {}) });
  }
  return verdicts;
}

const TYPE_ONLY = (ts: typeof TS) => ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias;

function relate(
  ts: typeof TS,
  checker: TS.TypeChecker,
  was: TS.Symbol,
  next: TS.Symbol,
): Pick<ExportVerdict, 'status' | 'change'> {
  const assignable = (source: TS.Type, target: TS.Type) => checker.isTypeAssignableTo(source, target);
  const isValue = (symbol: TS.Symbol) => (symbol.flags & ts.SymbolFlags.Value) !== 0;
  if (isValue(was)) {
    if (!isValue(next)) return { status: 'breaking', change: 'no longer a value (only a type)' };
    const before = checker.getTypeOfSymbol(was);
    const after = checker.getTypeOfSymbol(next);
    if (!assignable(after, before)) return { status: 'breaking', change: explain(ts, checker, before, after) };
    const removed =
      was.flags & ts.SymbolFlags.Class && next.flags & ts.SymbolFlags.Class
        ? removedMember(ts, checker, checker.getDeclaredTypeOfSymbol(was), checker.getDeclaredTypeOfSymbol(next))
        : removedMember(ts, checker, before, after);
    if (removed !== undefined) return { status: 'breaking', change: removed };
    return { status: sameShape(ts, checker, before, after, was, next) ? 'unchanged' : 'compatible', change: '' };
  }
  if ((next.flags & (TYPE_ONLY(ts) | ts.SymbolFlags.Class | ts.SymbolFlags.Enum)) === 0) {
    return { status: 'breaking', change: 'no longer a type' };
  }
  const before = checker.getDeclaredTypeOfSymbol(was);
  const after = checker.getDeclaredTypeOfSymbol(next);
  if (!assignable(after, before)) return { status: 'breaking', change: explain(ts, checker, before, after) };
  if (!assignable(before, after)) {
    return { status: 'breaking', change: explainBuilt(ts, checker, before, after) };
  }
  const removed = removedMember(ts, checker, before, after);
  if (removed !== undefined) return { status: 'breaking', change: removed };
  return { status: sameShape(ts, checker, before, after, was, next) ? 'unchanged' : 'compatible', change: '' };
}

/**
 * An optional member that is gone still passes assignability (`{ a }` is assignable to `{ a; b? }`), yet a host that
 * reads `b` no longer compiles: a removed member is breaking whatever its optionality.
 */
function removedMember(ts: typeof TS, checker: TS.TypeChecker, before: TS.Type, after: TS.Type): string | undefined {
  // Only the object types the remote declares: a primitive's members are its apparent type's (String's), not its own.
  if ((before.flags & ts.TypeFlags.Object) === 0) return undefined;
  const members = membersOf(checker, after);
  for (const property of checker.getPropertiesOfType(before)) {
    if (property.name === 'prototype') continue;
    if (!members.has(property.name)) {
      return `${memberWord(ts, property)} \`${property.name}\` removed`;
    }
  }
  return undefined;
}

/**
 * A type's members by name. (`checker.getPropertyOfType` does not find members keyed by a well-known symbol, such as
 * `__@iterator@58`, by the name `getPropertiesOfType` gives them.)
 */
function membersOf(checker: TS.TypeChecker, type: TS.Type): Map<string, TS.Symbol> {
  return new Map(checker.getPropertiesOfType(type).map((property) => [property.name, property]));
}

function isOptional(ts: typeof TS, parameter: TS.Symbol): boolean {
  const declaration = parameter.valueDeclaration;
  if (declaration === undefined || !ts.isParameter(declaration)) return false;
  return (
    declaration.questionToken !== undefined ||
    declaration.initializer !== undefined ||
    declaration.dotDotDotToken !== undefined
  );
}

function required(ts: typeof TS, signature: TS.Signature): number {
  return signature.parameters.filter((parameter) => !isOptional(ts, parameter)).length;
}

function show(checker: TS.TypeChecker, type: TS.Type): string {
  return checker.typeToString(type);
}

/** Why `after` is not assignable to `before`, in a few words; the checker decides each part. */
function explain(ts: typeof TS, checker: TS.TypeChecker, before: TS.Type, after: TS.Type): string {
  const assignable = (source: TS.Type, target: TS.Type) => checker.isTypeAssignableTo(source, target);
  for (const kind of [ts.SignatureKind.Call, ts.SignatureKind.Construct]) {
    const olds = checker.getSignaturesOfType(before, kind);
    const news = checker.getSignaturesOfType(after, kind);
    if (olds.length === 0) continue;
    if (news.length === 0) return kind === ts.SignatureKind.Call ? 'no longer callable' : 'no longer constructible';
    if (news.length < olds.length) return `an overload was removed (${olds.length} before, ${news.length} now)`;
    for (const [index, old] of olds.entries()) {
      const next = news[index]!;
      if (required(ts, next) > required(ts, old)) {
        const added = next.parameters[required(ts, next) - 1]!;
        return `new required parameter \`${added.name}\``;
      }
      for (const [position, parameter] of old.parameters.entries()) {
        const counterpart = next.parameters[position];
        if (counterpart === undefined) continue;
        const was = checker.getTypeOfSymbol(parameter);
        const now = checker.getTypeOfSymbol(counterpart);
        if (!assignable(was, now)) {
          return `parameter \`${parameter.name}\` accepts less (was ${show(checker, was)}, now ${show(checker, now)})`;
        }
      }
      const wasReturn = checker.getReturnTypeOfSignature(old);
      const nowReturn = checker.getReturnTypeOfSignature(next);
      if (!assignable(nowReturn, wasReturn)) {
        if (kind === ts.SignatureKind.Construct) return explainMembers(ts, checker, wasReturn, nowReturn);
        return `return type widened or changed (was ${show(checker, wasReturn)}, now ${show(checker, nowReturn)})`;
      }
    }
  }
  return explainMembers(ts, checker, before, after);
}

function explainMembers(ts: typeof TS, checker: TS.TypeChecker, before: TS.Type, after: TS.Type): string {
  const members = membersOf(checker, after);
  for (const property of checker.getPropertiesOfType(before)) {
    const counterpart = members.get(property.name);
    if (counterpart === undefined) return `${memberWord(ts, property)} \`${property.name}\` removed`;
    const was = checker.getTypeOfSymbol(property);
    const now = checker.getTypeOfSymbol(counterpart);
    if (!checker.isTypeAssignableTo(now, was)) {
      return `${memberWord(ts, property)} \`${property.name}\` changed type (was ${show(checker, was)}, now ${show(checker, now)})`;
    }
  }
  return `type changed (was ${show(checker, before)}, now ${show(checker, after)})`;
}

/** Why a host's value of the old type no longer fits the new one (hosts build values of exported types too). */
function explainBuilt(ts: typeof TS, checker: TS.TypeChecker, before: TS.Type, after: TS.Type): string {
  const members = membersOf(checker, before);
  for (const property of checker.getPropertiesOfType(after)) {
    const counterpart = members.get(property.name);
    if (counterpart === undefined && (property.flags & ts.SymbolFlags.Optional) === 0) {
      return `new required property \`${property.name}\``;
    }
    if (counterpart === undefined) continue;
    const was = checker.getTypeOfSymbol(counterpart);
    const now = checker.getTypeOfSymbol(property);
    if (!checker.isTypeAssignableTo(was, now)) {
      return `property \`${property.name}\` accepts less (was ${show(checker, was)}, now ${show(checker, now)})`;
    }
  }
  return `accepts less (was ${show(checker, before)}, now ${show(checker, after)})`;
}

function memberWord(ts: typeof TS, property: TS.Symbol): string {
  const declaration = property.valueDeclaration ?? property.declarations?.[0];
  return declaration && (ts.isMethodDeclaration(declaration) || ts.isMethodSignature(declaration))
    ? 'method'
    : 'property';
}

/** Same signature counts, parameter counts and member names: nothing was added, even optionally. */
function sameShape(
  ts: typeof TS,
  checker: TS.TypeChecker,
  before: TS.Type,
  after: TS.Type,
  was: TS.Symbol,
  next: TS.Symbol,
): boolean {
  for (const kind of [ts.SignatureKind.Call, ts.SignatureKind.Construct]) {
    const olds = checker.getSignaturesOfType(before, kind);
    const news = checker.getSignaturesOfType(after, kind);
    if (olds.length !== news.length) return false;
    for (const [index, old] of olds.entries()) {
      const counterpart = news[index]!;
      if (old.parameters.length !== counterpart.parameters.length) return false;
      if (required(ts, old) !== required(ts, counterpart)) return false;
    }
  }
  const names = (type: TS.Type) =>
    checker
      .getPropertiesOfType(type)
      .map((property) => property.name)
      .sort()
      .join(',');
  if (names(before) !== names(after)) return false;
  // A class's instance members too (its value type has only the statics and `prototype`).
  if (was.flags & ts.SymbolFlags.Class && next.flags & ts.SymbolFlags.Class) {
    return names(checker.getDeclaredTypeOfSymbol(was)) === names(checker.getDeclaredTypeOfSymbol(next));
  }
  return true;
}
