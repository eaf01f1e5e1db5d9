/**
 * The error catalogue: src/common/errors.ts (the classes and `errorClasses`), src/common/warnings.ts (the warning
 * codes), docs/errors.md (what users read), the root entry (what users import) and every place in src/ that names a
 * code, constructs an error or reports a warning must agree. Each
 * test's failure message says which side to fix.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import * as errorsModule from '../src/common/errors.ts';
import { errorClasses, FerryError } from '../src/common/errors.ts';
import { warningCodes } from '../src/common/warnings.ts';
import * as rootEntry from '../src/index.ts';
import { REPO_ROOT } from './helpers/temp-project.ts';

const CATALOGUE = 'docs/errors.md';
const codes = Object.keys(errorClasses) as Array<keyof typeof errorClasses>;

/** One row of a markdown table, split into trimmed cells (the outer pipes dropped). */
function cells(line: string): string[] {
  return line
    .trim()
    .slice(1, -1)
    .split('|')
    .map((cell) => cell.trim());
}

/** The rows of docs/errors.md whose first cell is a code in backticks matching `pattern`. */
async function catalogueRows(pattern: RegExp): Promise<Array<{ code: string; cells: string[]; line: number }>> {
  const text = await readFile(join(REPO_ROOT, CATALOGUE), 'utf8');
  const rows: Array<{ code: string; cells: string[]; line: number }> = [];
  text.split('\n').forEach((line, index) => {
    if (!line.startsWith('|')) return;
    const row = cells(line);
    const match = pattern.exec(row[0] ?? '');
    if (match) rows.push({ code: match[1]!, cells: row, line: index + 1 });
  });
  return rows;
}

const errorRows = () => catalogueRows(/^`(ERR_FERRY_[A-Z0-9_]+)`$/);
const warningRows = () => catalogueRows(/^`(FERRY_[A-Z0-9_]+)`$/);

/** Every source file under src/, with its text. */
async function sourceFiles(): Promise<Array<{ file: string; text: string }>> {
  const entries = await readdir(join(REPO_ROOT, 'src'), { recursive: true, withFileTypes: true });
  const files = entries.filter((entry) => entry.isFile() && entry.name.endsWith('.ts'));
  return Promise.all(
    files.map(async (entry) => {
      const path = join(entry.parentPath, entry.name);
      return { file: path.slice(REPO_ROOT.length), text: await readFile(path, 'utf8') };
    }),
  );
}

/** `file:line` of every match of `pattern` (global) in the sources, with the first capture group. */
async function occurrences(pattern: RegExp): Promise<Array<{ value: string; where: string }>> {
  const found: Array<{ value: string; where: string }> = [];
  for (const { file, text } of await sourceFiles()) {
    for (const match of text.matchAll(pattern)) {
      const line = text.slice(0, match.index).split('\n').length;
      found.push({ value: match[1]!, where: `${file}:${line}` });
    }
  }
  return found;
}

test('every code in errorClasses has exactly one row in docs/errors.md, and every row is a code', async () => {
  const rows = await errorRows();
  const documented = rows.map((row) => row.code);
  const missing = codes.filter((code) => !documented.includes(code));
  assert.deepEqual(missing, [], `codes without a row in ${CATALOGUE} (add one: code | class | when | fix)`);
  const unknown = rows.filter((row) => !Object.hasOwn(errorClasses, row.code));
  assert.deepEqual(
    unknown.map((row) => `${row.code} (line ${row.line})`),
    [],
    `rows in ${CATALOGUE} for codes that errorClasses does not have (remove them, or add the class)`,
  );
  const twice = documented.filter((code, index) => documented.indexOf(code) !== index);
  assert.deepEqual(twice, [], `codes with more than one row in ${CATALOGUE}`);
});

test('every row names the class of its code, says when it happens and how to fix it', async () => {
  for (const row of await errorRows()) {
    assert.equal(row.cells.length, 4, `${CATALOGUE}:${row.line} must have 4 cells: code | class | when | fix`);
    const ErrorClass = errorClasses[row.code as keyof typeof errorClasses];
    assert.equal(row.cells[1], `\`${ErrorClass.name}\``, `${CATALOGUE}:${row.line}: the class of ${row.code}`);
    assert.ok(row.cells[2]!.length > 20, `${CATALOGUE}:${row.line}: say when ${row.code} happens`);
    assert.ok(row.cells[3]!.length > 20, `${CATALOGUE}:${row.line}: say how to fix ${row.code}`);
  }
});

test('every documented class is exported from the root entry under the name in its row', async () => {
  const exported = rootEntry as unknown as Record<string, unknown>;
  for (const row of await errorRows()) {
    const name = row.cells[1]!.replaceAll('`', '');
    assert.equal(exported[name], errorClasses[row.code as keyof typeof errorClasses], `ferry must export ${name}`);
  }
  assert.equal(rootEntry.FerryError, FerryError, 'ferry must export FerryError');
  assert.equal(rootEntry.errorClasses, errorClasses, 'ferry must export errorClasses');
});

test('every FerryError subclass exported by src/common/errors.ts is in errorClasses', () => {
  const classes = new Set<unknown>(Object.values(errorClasses));
  for (const [name, value] of Object.entries(errorsModule)) {
    if (typeof value !== 'function' || value === FerryError || !(value.prototype instanceof FerryError)) continue;
    assert.ok(classes.has(value), `${name} is exported but not listed in errorClasses`);
  }
});

test("every class's static code is its key in errorClasses, and instances carry it", () => {
  for (const code of codes) {
    const ErrorClass = errorClasses[code];
    assert.equal(ErrorClass.code, code, `${ErrorClass.name}.code`);
    const cause = new Error('original');
    const error = new ErrorClass('message', { cause, remote: 'authService', url: 'http://127.0.0.1/x' });
    assert.equal(error.code, code);
    assert.equal(error.name, ErrorClass.name);
    assert.equal(error.message, 'message');
    assert.equal(error.cause, cause, `${ErrorClass.name} keeps its cause`);
    assert.equal(error.remote, 'authService');
    assert.equal(error.url, 'http://127.0.0.1/x');
    assert.ok(error instanceof ErrorClass && error instanceof FerryError && error instanceof Error);
    for (const other of codes) {
      if (other !== code) assert.ok(!(error instanceof errorClasses[other]), `${code} is not ${other}`);
    }
  }
});

test('codes are unique and descriptive (ERR_FERRY_ and upper-case words)', () => {
  const seen = new Set<string>();
  for (const code of codes) {
    assert.match(code, /^ERR_FERRY_[A-Z]+(?:_[A-Z]+)*$/);
    assert.ok(!seen.has(errorClasses[code].name), `${errorClasses[code].name} is listed twice`);
    seen.add(errorClasses[code].name);
  }
});

test('instanceof works across two copies of ferry (brand + code, not the prototype chain)', async () => {
  // A second instance of the same module, as when a host and a remote each load their own copy of ferry.
  const url = new URL('../src/common/errors.ts?second-copy', import.meta.url).href;
  const copy = (await import(url)) as typeof errorsModule;
  assert.notEqual(copy.IntegrityError, errorsModule.IntegrityError, 'the test needs a real second copy');
  const fromCopy = new copy.IntegrityError('bytes differ');
  assert.ok(fromCopy instanceof errorsModule.IntegrityError);
  assert.ok(fromCopy instanceof FerryError);
  assert.ok(!(fromCopy instanceof errorsModule.SignatureError));
  assert.ok(new errorsModule.TimeoutError('late') instanceof copy.TimeoutError);

  // What any other copy produces, reduced to the protocol: the Symbol.for brand and a code.
  for (const code of codes) {
    const branded = { [Symbol.for('ferry.error')]: true, code, message: 'from elsewhere' };
    assert.ok(branded instanceof errorClasses[code], `a branded ${code} is an instance of ${errorClasses[code].name}`);
    assert.ok(branded instanceof FerryError);
  }
  const unbranded = { code: 'ERR_FERRY_INTEGRITY', message: 'no brand' };
  assert.ok(!(unbranded instanceof errorsModule.IntegrityError), 'a code alone is not enough');
  assert.ok(!(unbranded instanceof FerryError));
  const wrongBrand = { [Symbol.for('ferry.error')]: 'yes', code: 'ERR_FERRY_INTEGRITY' };
  assert.ok(!(wrongBrand instanceof FerryError), 'the brand must be exactly true');
  for (const primitive of [null, undefined, 'ERR_FERRY_INTEGRITY', 42] as unknown[]) {
    assert.ok(!FerryError[Symbol.hasInstance](primitive), `${String(primitive)} is not a FerryError`);
  }
});

test('every ERR_FERRY_ code named anywhere in src/ is a key of errorClasses', async () => {
  const stale = (await occurrences(/\b(ERR_FERRY_[A-Z0-9_]+)\b/g)).filter(
    ({ value }) => !Object.hasOwn(errorClasses, value),
  );
  assert.deepEqual(
    stale.map(({ value, where }) => `${where} ${value}`),
    [],
    'codes used in src/ that errorClasses does not define',
  );
});

test('every ERR_FERRY_ code named in the docs is a key of errorClasses', async () => {
  const docs = ['README.md', 'ARCHITECTURE.md', ...(await readdir(join(REPO_ROOT, 'docs'))).map((f) => `docs/${f}`)];
  for (const doc of docs.filter((file) => file.endsWith('.md'))) {
    const text = await readFile(join(REPO_ROOT, doc), 'utf8').catch(() => '');
    for (const [code] of text.matchAll(/\bERR_FERRY_[A-Z0-9_]+\b/g)) {
      assert.ok(Object.hasOwn(errorClasses, code), `${doc} names ${code}, which errorClasses does not define`);
    }
  }
});

test('every `new XxxError(` in src/ names a ferry error class or a built-in error, never the base class', async () => {
  const ferryClasses = new Set(Object.values(errorClasses).map((ErrorClass) => ErrorClass.name));
  const globals = globalThis as unknown as Record<string, unknown>;
  const isBuiltin = (name: string) => {
    const value = globals[name];
    return typeof value === 'function' && (value === Error || value.prototype instanceof Error);
  };
  const bad = (await occurrences(/\bnew\s+([A-Z][A-Za-z0-9]*Error)\s*\(/g)).filter(
    ({ value }) => !ferryClasses.has(value) && !isBuiltin(value),
  );
  assert.deepEqual(
    bad.map(({ value, where }) => `${where} ${value}`),
    [],
    'constructed error classes that do not exist (or the base FerryError, which is never thrown itself)',
  );
});

test('the warning catalogue (src/common/warnings.ts) and the warnings table of docs/errors.md list the same codes', async () => {
  const catalogue = Object.keys(warningCodes).sort();
  const documented = (await warningRows()).map((row) => row.code);
  assert.deepEqual(
    catalogue.filter((code) => !documented.includes(code)),
    [],
    `warning codes in src/common/warnings.ts without a row in the warnings table of ${CATALOGUE}`,
  );
  assert.deepEqual(
    documented.filter((code) => !catalogue.includes(code)).sort(),
    [],
    `warning rows in ${CATALOGUE} for codes that src/common/warnings.ts does not declare`,
  );
  assert.deepEqual(
    documented.filter((code, index) => documented.indexOf(code) !== index),
    [],
    `warning codes with more than one row in ${CATALOGUE}`,
  );
  for (const row of await warningRows()) {
    assert.equal(row.cells.length, 3, `${CATALOGUE}:${row.line} must have 3 cells: code | when | what to do`);
  }
});

test('every warning code in the catalogue is reported somewhere in src/, and only catalogued codes are', async () => {
  // The codes are string literals in the first argument of a warn() call (possibly a conditional between two).
  const firstArguments = await occurrences(/\bwarn\(\s*([^,()]*)/g);
  const emitted = new Set(
    firstArguments.flatMap(({ value }) => [...value.matchAll(/['"`](FERRY_[A-Z0-9_]+)['"`]/g)].map((m) => m[1]!)),
  );
  assert.ok(emitted.size > 0, 'found no warn() calls: the pattern in this test is out of date');
  assert.deepEqual(
    Object.keys(warningCodes).filter((code) => !emitted.has(code)),
    [],
    'warning codes declared in src/common/warnings.ts that src/ never reports (remove them, or report them)',
  );
  assert.deepEqual(
    [...emitted].filter((code) => !Object.hasOwn(warningCodes, code)),
    [],
    'warning codes reported in src/ that src/common/warnings.ts does not declare',
  );
  assert.equal(rootEntry.warningCodes, warningCodes, 'ferry must export warningCodes');
});
