/**
 * The container runtime's Module Federation sharing (src/container/share-scope.ts), on plain scope objects shaped as
 * MF 2.0 and webpack write them: who wins a registration, which version a remote takes, and loading once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SharedUnavailableError, SharedVersionError } from '../src/common/errors.ts';
import { choose, register, type Scope, type ScopeEntry, take } from '../src/container/share-scope.ts';
import type { ContainerShared } from '../src/container/types.ts';

const config = (overrides: Partial<ContainerShared> = {}): ContainerShared => ({
  version: '9.0.3',
  requiredVersion: '^9.0.0',
  singleton: false,
  strictVersion: false,
  eager: false,
  shareScope: 'default',
  fallback: 'shared-jsonwebtoken.0123456789.js',
  ...overrides,
});
const entry = (from: string, fields: Partial<ScopeEntry> = {}): ScopeEntry => ({
  get: () => Promise.resolve(() => ({ from })),
  from,
  eager: false,
  ...fields,
});

test('register: the remote adds its copy in MF 2.0 shape, and keeps a loaded, eager or higher-named entry of the same version', () => {
  const own = () => Promise.resolve(() => 'own');
  const empty: Scope = {};
  register(empty, 'jsonwebtoken', config(), 'authService', own);
  const added = empty['jsonwebtoken']!['9.0.3']!;
  assert.equal(added.from, 'authService');
  assert.equal(added.get, own);
  assert.deepEqual(added.shareConfig, {
    singleton: false,
    requiredVersion: '^9.0.0',
    strictVersion: false,
    eager: false,
  });
  assert.deepEqual(added.scope, ['default']);
  assert.equal(added.loaded, false);

  for (const [name, existing, kept] of [
    ['loaded', entry('zzz', { loaded: 1 }), true],
    ['eager', entry('aaa', { eager: true }), true],
    ['higher name', entry('zzz'), true],
    ['lower name', entry('aaa'), false],
  ] as const) {
    const scope: Scope = { jsonwebtoken: { '9.0.3': existing } };
    register(scope, 'jsonwebtoken', config(), 'authService', own);
    assert.equal(scope['jsonwebtoken']!['9.0.3'] === existing, kept, name);
  }
});

test('choose: a singleton takes the loaded version, else the highest; outside its range a warning, or an error with strictVersion', (t) => {
  const warn = t.mock.method(console, 'warn', () => {});
  const scope: Scope = { jsonwebtoken: { '9.0.1': entry('host', { loaded: true }), '9.1.0': entry('other') } };
  assert.equal(choose(scope, 'jsonwebtoken', config({ singleton: true }), 'authService'), '9.0.1');
  delete scope['jsonwebtoken']!['9.0.1']!.loaded;
  assert.equal(choose(scope, 'jsonwebtoken', config({ singleton: true }), 'authService'), '9.1.0');
  assert.equal(warn.mock.callCount(), 0);

  const old: Scope = { jsonwebtoken: { '8.5.1': entry('host', { loaded: true }) } };
  assert.equal(choose(old, 'jsonwebtoken', config({ singleton: true }), 'authService'), '8.5.1');
  assert.equal(warn.mock.callCount(), 1);
  assert.match(String(warn.mock.calls[0]!.arguments[0]), /version 8\.5\.1 from host .* requires \^9\.0\.0/);
  assert.throws(
    () => choose(old, 'jsonwebtoken', config({ singleton: true, strictVersion: true }), 'authService'),
    (error) => error instanceof SharedVersionError && /8\.5\.1 from host/.test(error.message),
  );
});

test('choose: others take the highest version in range, else their own copy; without one, an error naming the package', (t) => {
  t.mock.method(console, 'warn', () => {});
  const scope: Scope = {
    jsonwebtoken: { '9.0.1': entry('a'), '9.2.0': entry('b'), '10.0.0': entry('c'), 'not-semver': entry('d') },
  };
  assert.equal(choose(scope, 'jsonwebtoken', config(), 'authService'), '9.2.0');
  assert.equal(choose(scope, 'jsonwebtoken', config({ requiredVersion: '^11.0.0' }), 'authService'), undefined);
  assert.equal(choose(scope, 'jsonwebtoken', config({ requiredVersion: false }), 'authService'), '10.0.0');
  assert.throws(
    () => choose({}, 'jsonwebtoken', config({ fallback: false }), 'authService'),
    (error) => error instanceof SharedUnavailableError && /Shared jsonwebtoken .* brings no copy/.test(error.message),
  );
  assert.throws(
    () => choose(scope, 'jsonwebtoken', config({ fallback: false, requiredVersion: '^11', strictVersion: true }), 'r'),
    SharedVersionError,
  );
});

test('take: an entry is loaded once for everyone taking it meanwhile, marked loaded, with the remote in useIn', async () => {
  let gets = 0;
  const module = { jwt: true };
  const modern = entry('host', {
    get: async () => {
      gets++;
      await new Promise((resolve) => setTimeout(resolve, 10));
      return () => module;
    },
    lib: null,
    loading: null,
    useIn: [],
    shareConfig: { singleton: true },
  });
  const [first, second] = await Promise.all([take(modern, 'authService'), take(modern, 'other')]);
  assert.equal(gets, 1);
  assert.equal(first, second);
  assert.equal(first(), module);
  assert.equal(modern.lib, first);
  assert.equal(modern.loaded, true);
  assert.deepEqual(modern.useIn, ['authService', 'other']);

  // webpack's older entries ({ get, from, eager, loaded }) get `loaded` only.
  const webpack = entry('host');
  await take(webpack, 'authService');
  assert.equal(webpack.loaded, true);
  assert.equal('lib' in webpack, false);
});
