/**
 * The semver functions ferry uses. Versions and ranges nearly always have the plain forms (`1.2.3`; `^1.2.3`,
 * `~1.2.3`, `1.2.3`, `*`), and those are answered here; anything else is handed to the `semver` package's
 * functions (`satisfies`, `validRange`, `valid`, `rsort`), loaded then, on first use.
 *
 * Why not import semver up front: loading it costs every host's start-up what it never uses. As a package its
 * ~15 CommonJS files were resolved and read one by one (~10 ms, until the third round bundled them); bundled,
 * its ~54 KB were a sixth of the runtime's chunk to compile, and its module bodies (~40 regular expressions built)
 * ran at every start (~3 ms together), and the first range its parser read cost ~2.2 ms more (bench/ROUNDS.md,
 * ninth and tenth rounds). test/semver-fast-path.test.ts checks the answers against semver's over a grid of
 * versions and ranges; test/package-layout.test.ts that a host of plain ranges never loads semver's file.
 */
import { createRequire } from 'node:module';
import type { RangeOptions } from 'semver';

interface Semver {
  satisfies(version: string, range: string, options?: RangeOptions): boolean;
  validRange(range: string): string | null;
  valid(version: string): string | null;
  rsort(list: string[]): string[];
}

let loaded: Semver | undefined;

/**
 * The semver package's functions, loaded on first use. In dist/ they are one file of their own,
 * dist/chunks/semver.cjs, beside the chunks that hold this module (scripts/build.ts bundles it: ferry has no
 * dependencies); run from its TypeScript sources, ferry takes them from the semver package (a devDependency).
 */
function semver(): Semver {
  if (loaded) return loaded;
  const requireHere = createRequire(import.meta.url);
  loaded = import.meta.url.endsWith('.ts')
    ? {
        satisfies: requireHere('semver/functions/satisfies.js'),
        validRange: requireHere('semver/ranges/valid.js'),
        valid: requireHere('semver/functions/valid.js'),
        rsort: requireHere('semver/functions/rsort.js'),
      }
    : (requireHere('./semver.cjs') as Semver);
  return loaded;
}

/** A number part as semver reads it: no leading zero, and short enough to be an exact integer. */
const PART = '(0|[1-9]\\d{0,14})';
const PLAIN_VERSION = new RegExp(`^${PART}\\.${PART}\\.${PART}$`);
const SIMPLE_RANGE = new RegExp(`^([\\^~]?)${PART}\\.${PART}\\.${PART}$`);

/** Whether `version` satisfies `range`, when both are of the simple forms above; undefined otherwise. */
function simpleSatisfies(version: string, range: string): boolean | undefined {
  const v = PLAIN_VERSION.exec(version);
  if (!v) return undefined;
  if (range === '*') return true;
  const r = SIMPLE_RANGE.exec(range);
  if (!r) return undefined;
  const [major, minor, patch] = [Number(v[1]), Number(v[2]), Number(v[3])];
  const [operator, rangeMajor, rangeMinor, rangePatch] = [r[1], Number(r[2]), Number(r[3]), Number(r[4])];
  const order = major - rangeMajor || minor - rangeMinor || patch - rangePatch;
  if (operator === '') return order === 0;
  if (order < 0) return false;
  // ~1.2.3: >=1.2.3 <1.3.0. ^1.2.3: >=1.2.3 <2.0.0; ^0.2.3: <0.3.0; ^0.0.3: <0.0.4.
  if (operator === '~' || rangeMajor === 0) {
    if (major !== rangeMajor || minor !== rangeMinor) return false;
    return operator === '~' || rangeMinor > 0 || patch === rangePatch;
  }
  return major === rangeMajor;
}

/** semver's `satisfies`. */
export function satisfies(version: string, range: string, options?: RangeOptions): boolean {
  if (typeof version === 'string' && typeof range === 'string') {
    const answer = simpleSatisfies(version, range);
    if (answer !== undefined) return answer;
  }
  return semver().satisfies(version, range, options);
}

/** Whether semver reads `range` as a range (`validRange(range) !== null`). */
export function isValidRange(range: string): boolean {
  return SIMPLE_RANGE.test(range) || range === '*' || semver().validRange(range) !== null;
}

/** semver's `valid`: the version in its normal form, or null when semver cannot read it as a version. */
export function valid(version: string): string | null {
  if (typeof version === 'string' && PLAIN_VERSION.test(version)) return version;
  return semver().valid(version);
}

/** semver's `rsort`: sorts `list` in place, highest version first, and returns it. */
export function rsort(list: string[]): string[] {
  const parsed = list.map((version) => PLAIN_VERSION.exec(version));
  if (!parsed.every((match) => match !== null)) return semver().rsort(list);
  const parts = new Map(list.map((version, i) => [version, parsed[i]!.slice(1, 4).map(Number)]));
  return list.sort((a, b) => {
    const [x, y] = [parts.get(a)!, parts.get(b)!];
    return y[0]! - x[0]! || y[1]! - x[1]! || y[2]! - x[2]!;
  });
}
