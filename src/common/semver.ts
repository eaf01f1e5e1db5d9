/**
 * The semver functions ferry uses, each from its own module of the `semver` package. `import semver from 'semver'`
 * loads the whole package (every function, range and class module, ~50 files): ~8 ms of a host's or a build's
 * start-up for nothing used. `npm run build` bundles these (and what they require) into dist/, so an installed host
 * does not resolve semver's CommonJS files one by one either (scripts/build.ts).
 *
 * `satisfies` and `isValidRange` answer the ranges shared packages nearly always use (`^1.2.3`, `~1.2.3`, `1.2.3`,
 * against a plain `x.y.z` version) without semver's range parser, and hand everything else to semver. The first
 * range semver parses in a process costs ~2.2 ms (its regular expressions are compiled on first use), which every
 * host that declares a shared package paid in `createHost` (bench/README.md, ninth round).
 * test/semver-fast-path.test.ts checks the answers against semver's over a grid of versions and ranges.
 */
import type { RangeOptions } from 'semver';
import semverSatisfies from 'semver/functions/satisfies.js';
import semverValidRange from 'semver/ranges/valid.js';

export { default as rsort } from 'semver/functions/rsort.js';
export { default as valid } from 'semver/functions/valid.js';

/** A number part as semver reads it: no leading zero, and short enough to be an exact integer. */
const PART = '(0|[1-9]\\d{0,14})';
const PLAIN_VERSION = new RegExp(`^${PART}\\.${PART}\\.${PART}$`);
const SIMPLE_RANGE = new RegExp(`^([\\^~]?)${PART}\\.${PART}\\.${PART}$`);

/** Whether `version` satisfies `range`, when both are of the simple forms above; undefined otherwise. */
function simpleSatisfies(version: string, range: string): boolean | undefined {
  const v = PLAIN_VERSION.exec(version);
  const r = v ? SIMPLE_RANGE.exec(range) : null;
  if (!v || !r) return undefined;
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
  return semverSatisfies(version, range, options);
}

/** Whether semver reads `range` as a range (`validRange(range) !== null`). */
export function isValidRange(range: string): boolean {
  return SIMPLE_RANGE.test(range) || semverValidRange(range) !== null;
}
