/**
 * Turns the plain values a test hands `createTestRemote()` into the CommonJS source of a remote module, without a
 * bundler: each function is written out from its own source text (`Function.prototype.toString`), data as literals.
 * A function therefore keeps no closure: it may use its parameters, globals, and `require()` of Node builtins and the
 * remote's shared packages (the host's scoped `require`), but not variables of the test file around it.
 */
import { InvalidOptionError } from '../common/errors.ts';

/** Values of one exposed module: its named exports (`default` for the default export). */
export type ModuleValues = Readonly<Record<string, unknown>>;

const EXPRESSION = /^(?:async\s+)?(?:function\b|class\b|\(|[A-Za-z_$][\w$]*\s*=>)/;

function invalid(where: string, why: string): never {
  throw new InvalidOptionError(
    `createTestRemote: ${where} ${why} Hand it as a module source string or a file path instead (built with esbuild), ` +
      'or as plain data and self-contained functions.',
    { option: where },
  );
}

/** A function's source as an expression: `function …`, `(…) => …`, `class …`, or a method shorthand. */
function functionSource(value: (...args: unknown[]) => unknown, where: string): string {
  const text = Function.prototype.toString.call(value);
  if (/\{\s*\[native code\]\s*\}$/.test(text)) {
    invalid(where, 'is a native or bound function, which has no source ferry can send to a host.');
  }
  if (EXPRESSION.test(text)) return `(${text})`;
  // A method shorthand (`validate(token) { … }`, `async *items() { … }`): a method of an object literal.
  const name = value.name;
  return `({ ${text} })[${JSON.stringify(name)}]`;
}

/** JavaScript source that evaluates to `value`. */
function valueSource(value: unknown, where: string, seen: Set<unknown>): string {
  switch (typeof value) {
    case 'undefined':
      return 'undefined';
    case 'boolean':
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (Object.is(value, -0)) return '-0';
      return Number.isFinite(value)
        ? String(value)
        : Number.isNaN(value)
          ? 'NaN'
          : value > 0
            ? 'Infinity'
            : '-Infinity';
    case 'bigint':
      return `${value}n`;
    case 'function':
      return functionSource(value as (...args: unknown[]) => unknown, where);
    case 'symbol':
      return invalid(where, 'is a symbol, which cannot be sent to a host.');
  }
  if (value === null) return 'null';
  if (seen.has(value)) invalid(where, 'refers to itself (a cycle).');
  seen.add(value);
  try {
    if (Array.isArray(value)) {
      return `[${value.map((item, index) => valueSource(item, `${where}[${index}]`, seen)).join(', ')}]`;
    }
    if (value instanceof Date) return `new Date(${JSON.stringify(value.toISOString())})`;
    if (value instanceof RegExp) return value.toString();
    const prototype = Object.getPrototypeOf(value);
    if (prototype !== Object.prototype && prototype !== null) {
      invalid(
        where,
        `is an instance of ${prototype?.constructor?.name ?? 'a class'}, which cannot be rebuilt on a host.`,
      );
    }
    const entries = Object.entries(value as Record<string, unknown>).map(
      ([key, item]) => `${JSON.stringify(key)}: ${valueSource(item, `${where}.${key}`, seen)}`,
    );
    return `{ ${entries.join(', ')} }`;
  } finally {
    seen.delete(value);
  }
}

/**
 * The CommonJS source of a module whose exports are `values`.
 *
 * @example
 * ```ts
 * sourceOfValues({ answer: 42, double: (n: number) => n * 2 }, "exposes['./math']");
 * // "'use strict';\nexports[\"answer\"] = 42;\nexports[\"double\"] = ((n) => n * 2);\n"
 * ```
 */
export function sourceOfValues(values: ModuleValues, where: string): string {
  const lines = ["'use strict';"];
  // As esbuild marks an ES module compiled to CommonJS: its `default` is the default export (ferry/register, import).
  if (Object.hasOwn(values, 'default')) lines.push("Object.defineProperty(exports, '__esModule', { value: true });");
  for (const [key, value] of Object.entries(values)) {
    lines.push(`exports[${JSON.stringify(key)}] = ${valueSource(value, `${where}.${key}`, new Set())};`);
  }
  return `${lines.join('\n')}\n`;
}
