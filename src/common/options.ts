/**
 * Validating options once, at the boundary, the same way for `ferry build`'s config and `createHost()`: one error shape
 * (an {@link InvalidOptionError} naming the option, the file and the fix), "did you mean" hints for misspelled keys,
 * and rename hints for keys that moved.
 */
import { InvalidOptionError } from './errors.ts';

/**
 * Where an option came from, for messages: the config file (or `buildRemote()` when called without one), or the
 * function that was given it (`createHost`).
 */
export interface OptionSource {
  /** The config file's path, if the options came from one. */
  file?: string;
  /** How the file is named in messages (relative to the project root). */
  label: string;
}

/** Throws an {@link InvalidOptionError} `"<file>: <option> <problem>"` with `option` and `file` set. */
export function invalidOption(source: OptionSource, option: string, problem: string, cause?: unknown): never {
  throw new InvalidOptionError(`${source.label}: ${option} ${problem}`, { option, file: source.file, cause });
}

/** `exposes` + `"./x"` -> `exposes["./x"]`; `shared.pkg` + `singleton` -> `shared.pkg.singleton`. */
export function optionPath(parent: string, key: string): string {
  return /^[A-Za-z_$][\w$-]*$/.test(key) ? `${parent}.${key}` : `${parent}[${JSON.stringify(key)}]`;
}

/** True for a plain object (what a config section must be). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

/** The closest known name to a misspelled one, or undefined when nothing is close. */
export function closestName(name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  let best: { name: string; score: number } | undefined;
  for (const candidate of known) {
    const other = candidate.toLowerCase();
    const score = other.startsWith(lower) || lower.startsWith(other) ? 1 : distance(lower, other);
    if (score <= Math.max(2, Math.floor(candidate.length / 3)) && (!best || score < best.score)) {
      best = { name: candidate, score };
    }
  }
  return best?.name;
}

/** What {@link rejectUnknownKeys} knows about the keys of one object. */
export interface KnownKeys {
  /** The keys that are options. */
  known: readonly string[];
  /** Options ferry knows but does not take (Module Federation or webpack options): the reason and what to do. */
  rejected?: Readonly<Record<string, string>>;
  /** Common wrong names and the right one, where spelling distance would not find it. */
  aliases?: Readonly<Record<string, string>>;
  /** Keys that moved in a rename, and where they live now (`connectTimeout` -> `timeouts.connect`). */
  moved?: Readonly<Record<string, string>>;
}

/**
 * Rejects keys of `value` that are not options: a moved key names its new place, a rejected one says why, and an
 * unknown one gets the closest known name ("did you mean") or the list of known names.
 */
export function rejectUnknownKeys(
  value: Record<string, unknown>,
  where: { source: OptionSource; parent?: string },
  { known, rejected = {}, aliases = {}, moved = {} }: KnownKeys,
): void {
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const option = where.parent ? optionPath(where.parent, key) : key;
    if (Object.hasOwn(moved, key)) {
      const to = where.parent ? moved[key]!.split('.').reduce(optionPath, where.parent) : moved[key]!;
      invalidOption(where.source, option, `moved: use \`${to}\` (the options are grouped by what they tune).`);
    }
    if (Object.hasOwn(rejected, key)) invalidOption(where.source, option, `is not a ferry option: ${rejected[key]}`);
    const hint = Object.hasOwn(aliases, key) ? aliases[key] : closestName(key, known);
    const suggestion = hint
      ? `Did you mean "${hint}"?`
      : `Remove it; the known options${where.parent ? ` of ${where.parent}` : ''} are ${known.join(', ')}.`;
    invalidOption(where.source, option, `is not a known option. ${suggestion}`);
  }
}
