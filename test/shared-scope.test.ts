/**
 * The share scope's resolution rules (Module Federation's), on hand-made scopes: which version each kind of consumer
 * gets under each strategy, and what the warnings and errors say. The end-to-end behaviour is in shared.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHost, InvalidOptionError, SharedUnavailableError, SharedVersionError } from '../src/index.ts';
import {
  type Consumer,
  choose,
  createShareScope,
  load,
  provide,
  type ShareScope,
} from '../src/runtime/sharing/share-scope.ts';

function scopeWith(entries: Array<[string, string, boolean?]>): ShareScope {
  const scope = createShareScope();
  for (const [version, from, loaded] of entries) {
    provide(scope, 'pkg', version, {
      from,
      eager: false,
      get: async () => () => ({ version }),
      loaded: loaded === true,
    });
  }
  return scope;
}
const consumer: Consumer = { name: 'remote "r" (./x)', scope: 'default', own: 'r', ownVersion: '1.0.0' };
const singleton = { requiredVersion: '^1.0.0', singleton: true, strictVersion: false };
const plain = { requiredVersion: '^1.0.0', singleton: false, strictVersion: false };

test('a singleton takes the highest version provided, unless one is already loaded', () => {
  assert.equal(
    choose(
      scopeWith([
        ['1.0.0', 'r'],
        ['1.2.0', 'a'],
      ]),
      'pkg',
      singleton,
      consumer,
    ).version,
    '1.2.0',
  );
  const loaded = scopeWith([
    ['1.0.0', 'r', true],
    ['1.2.0', 'a'],
  ]);
  const chosen = choose(loaded, 'pkg', singleton, consumer, 'version-first');
  assert.deepEqual(chosen, { version: '1.0.0', from: 'r', reason: 'already loaded (the singleton instance)' });
});

test('an unsatisfied singleton is a warning, or a SharedVersionError with strictVersion', () => {
  const scope = scopeWith([
    ['1.0.0', 'r'],
    ['2.0.0', 'host'],
  ]);
  const chosen = choose(scope, 'pkg', singleton, consumer);
  assert.equal(chosen.version, '2.0.0');
  assert.match(String(chosen.warning), /remote "r".*\^1\.0\.0.*brings 1\.0\.0.*2\.0\.0 from host.*Align/);
  assert.throws(
    () => choose(scope, 'pkg', { ...singleton, strictVersion: true }, consumer),
    (error: unknown) => error instanceof SharedVersionError && /1\.0\.0.*2\.0\.0/.test(error.message),
  );
});

test('a non-singleton: highest in range (version-first) or a loaded one in range (loaded-first)', () => {
  const scope = scopeWith([
    ['1.0.0', 'r', true],
    ['1.5.0', 'a'],
    ['2.0.0', 'host'],
  ]);
  assert.equal(choose(scope, 'pkg', plain, consumer, 'version-first').version, '1.5.0');
  assert.equal(choose(scope, 'pkg', plain, consumer, 'loaded-first').version, '1.0.0');
});

test('a non-singleton that nothing satisfies uses its own copy with a warning, and fails without one', () => {
  const scope = scopeWith([
    ['0.9.0', 'r'],
    ['2.0.0', 'host'],
  ]);
  const chosen = choose(scope, 'pkg', plain, { ...consumer, ownVersion: '0.9.0' });
  assert.equal(chosen.from, 'r');
  assert.match(String(chosen.warning), /its own copy 0\.9\.0/);
  assert.throws(
    () => choose(scope, 'pkg', plain, { name: 'remote "e" (./x)', scope: 'default' }),
    (error: unknown) =>
      error instanceof SharedUnavailableError && /2\.0\.0 from host.*import: false/.test(error.message),
  );
});

test('providers follow the MF container contract and load once', async () => {
  const scope = scopeWith([['1.0.0', 'r']]);
  const provider = scope.pkg!['1.0.0']!;
  // Module Federation 2's entry shape, which a webpack/rspack container's runtime reads (mf-remote interop tests).
  assert.deepEqual(Object.keys(provider).sort(), [
    'deps',
    'eager',
    'from',
    'get',
    'loaded',
    'loading',
    'scope',
    'shareConfig',
    'strategy',
    'useIn',
    'version',
  ]);
  assert.equal(provider.version, '1.0.0');
  assert.deepEqual(provider.scope, ['default']);
  // MF's runtime writes the loading container's name into `from`; ferry's record of the provider stays.
  provider.from = 'someContainer';
  assert.equal(provider.from, 'r');
  const [a, b] = await Promise.all([load(scope, 'pkg', '1.0.0'), load(scope, 'pkg', '1.0.0')]);
  assert.equal(a, b);
  assert.equal(provider.loaded, true);
});

test('host sharing options are validated by name', () => {
  const base = { name: 'h', remotes: {} };
  assert.throws(() => createHost({ ...base, shareStrategy: 'newest' as never }), InvalidOptionError);
  assert.throws(() => createHost({ ...base, shared: { 'Not A Name': {} } }), /not an npm package name/);
  assert.throws(() => createHost({ ...base, shared: { lodash: { shareScope: '' } } }), /shared\.lodash\.shareScope/);
  const host = createHost({ ...base, shared: { 'lodash/': {}, 'left-pad': { import: false } }, onWarning: () => {} });
  assert.deepEqual(host.shared(), { default: {} });
});
