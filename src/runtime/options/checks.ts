/**
 * The value checks every runtime option section shares: one error shape (`createHost: <option> <problem>`, an
 * InvalidOptionError naming the option), sections that are plain objects with known keys ("did you mean" and rename
 * hints from src/common/options.ts), numbers of milliseconds and flags.
 */
import { invalidOption, isPlainObject, type KnownKeys, rejectUnknownKeys } from '../../common/options.ts';

const SOURCE = { label: 'createHost' };

/** Throws an InvalidOptionError: `createHost: <option> <problem>`. */
export function invalid(option: string, problem: string): never {
  return invalidOption(SOURCE, option, problem);
}

/** `''` + `timeouts` -> `timeouts`; `remotes.a` + `timeouts` -> `remotes.a.timeouts`. */
export function child(where: string, key: string): string {
  return where === '' ? key : `${where}.${key}`;
}

/**
 * Checks that `value` (at `option`) is undefined or a plain object whose keys are all known; returns it as a record
 * (empty when undefined).
 */
export function section(value: unknown, option: string, keys: KnownKeys): Record<string, unknown> {
  if (value === undefined) return {};
  if (!isPlainObject(value)) invalid(option, `must be an object of options, got ${JSON.stringify(value)}.`);
  rejectUnknownKeys(value, { source: SOURCE, parent: option }, keys);
  return value;
}

/** Checks the top-level keys of an options object (no parent path). */
export function topLevel(value: Record<string, unknown>, keys: KnownKeys): void {
  rejectUnknownKeys(value, { source: SOURCE }, keys);
}

/** A number of at least `min` (milliseconds, a count), or `fallback` when undefined. */
export function atLeast(value: unknown, option: string, fallback: number, min: number, what = 'a number'): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    invalid(option, `must be ${what} of at least ${min}, got ${JSON.stringify(value)}.`);
  }
  return value;
}

/** A positive number of milliseconds, or `fallback` when undefined. */
export function milliseconds(value: unknown, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    invalid(option, `must be a positive number of milliseconds, got ${JSON.stringify(value)}.`);
  }
  return value;
}

/** true or false, or `fallback` when undefined. */
export function flag(value: unknown, option: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') invalid(option, `must be true or false, got ${JSON.stringify(value)}.`);
  return value;
}

/** A function, or undefined. */
export function optionalFunction<T>(value: unknown, option: string): T | undefined {
  if (value !== undefined && typeof value !== 'function') invalid(option, 'must be a function.');
  return value as T | undefined;
}

/** Throws for a key of a remote's section that only the host may set (`reasons`: key -> why and what to do). */
export function hostOnly(value: unknown, option: string, reasons: Readonly<Record<string, string>>): void {
  if (typeof value !== 'object' || value === null) return;
  for (const key of Object.keys(value)) if (Object.hasOwn(reasons, key)) invalid(`${option}.${key}`, reasons[key]!);
}
