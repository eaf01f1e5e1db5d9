/**
 * src/common/semver.ts answers simple ranges (`^x.y.z`, `~x.y.z`, `x.y.z`, `*` against a plain version) without semver's
 * range parser: its answers must be semver's, for every version and range of a grid that covers the 0.x and 0.0.x
 * rules of `^` and `~`, each boundary, and the forms it hands to semver (prereleases, `v` prefixes, leading zeros,
 * spaces, `||`, hyphen ranges, parts too long to be exact). Likewise `valid` and `rsort`, which answer plain versions
 * themselves and hand the rest to semver (test/package-layout.test.ts checks that a host of plain ranges never loads
 * semver's file at all).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import semverRsort from 'semver/functions/rsort.js';
import semverSatisfies from 'semver/functions/satisfies.js';
import semverValid from 'semver/functions/valid.js';
import semverValidRange from 'semver/ranges/valid.js';
import { isValidRange, rsort, satisfies, valid } from '../src/common/semver.ts';

const parts = [0, 1, 2, 3, 10];
const plain = parts.flatMap((a) => parts.flatMap((b) => parts.map((c) => `${a}.${b}.${c}`)));
const versions = [
  ...plain,
  '1.2.3-beta.1',
  '0.0.3-0',
  'v1.2.3',
  '01.2.3',
  '1.2',
  '',
  'x',
  '999999999999999.0.0',
  '9999999999999999.0.0',
  ' 1.2.3',
];
const ranges = [
  ...plain.flatMap((version) => [version, `^${version}`, `~${version}`]),
  '^1.2.3-beta.0',
  '~0.0.3-0',
  '^01.2.3',
  ' ^1.2.3 ',
  '^1.2',
  '~1',
  '>=1.2.3',
  '>=1.0.0 <2.0.0',
  '1.x',
  '*',
  '',
  '^1.2.3 || ^2.0.0',
  '1.2.3 - 2.3.4',
  'latest',
  '^999999999999999.0.0',
  '^9999999999999999.0.0',
];

test('satisfies gives semver`s answer for every version and range of the grid, with and without includePrerelease', () => {
  let checked = 0;
  for (const version of versions) {
    for (const range of ranges) {
      for (const options of [undefined, { includePrerelease: true }]) {
        assert.equal(
          satisfies(version, range, options),
          semverSatisfies(version, range, options),
          `satisfies(${JSON.stringify(version)}, ${JSON.stringify(range)}, ${JSON.stringify(options)})`,
        );
        checked++;
      }
    }
  }
  assert.equal(checked, versions.length * ranges.length * 2);
});

test('isValidRange is semver`s validRange(range) !== null for every range of the grid', () => {
  for (const range of [...ranges, '>=', '^', '~x.y.z', '1.2.3.4', 'not a range']) {
    assert.equal(isValidRange(range), semverValidRange(range) !== null, JSON.stringify(range));
  }
});

test('valid is semver`s valid for every version of the grid', () => {
  for (const version of [...versions, '1.2.3+build.5', '=1.2.3', 'v0.0.0', '1.2.3.4']) {
    assert.equal(valid(version), semverValid(version), JSON.stringify(version));
  }
});

test('rsort orders like semver`s rsort, plain versions alone and mixed with others', () => {
  const shuffled = [...plain].sort(() => Math.random() - 0.5);
  assert.deepEqual(rsort([...shuffled]), semverRsort([...shuffled]));
  const mixed = ['1.2.3', '1.2.3-beta.1', '10.0.0', '2.0.0', '1.10.0', '0.0.3-0'];
  assert.deepEqual(rsort([...mixed]), semverRsort([...mixed]));
  const list = ['1.0.0', '3.0.0', '2.0.0'];
  assert.equal(rsort(list), list, 'sorted in place, like semver`s');
  assert.deepEqual(list, ['3.0.0', '2.0.0', '1.0.0']);
});
