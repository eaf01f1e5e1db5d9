/**
 * Shared modules with Module Federation semantics, end to end: remotes built with `ferry build` against real lodash
 * releases from the npm registry (3.10.1, 4.17.15, 4.17.20; the host has 4.17.21), served over loopback, loaded by
 * hosts with different `shared` options and strategies.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  createHost,
  type HostOptions,
  IntegrityError,
  SharedUnavailableError,
  SharedVersionError,
} from '../src/index.ts';
import { type BuiltRemote, buildSharedRemote, createHostRoot } from './helpers/shared-fixture.ts';
import type { TempProject } from './helpers/temp-project.ts';

interface Lodash {
  VERSION: string;
}
interface Exposed {
  lodash: Lodash;
  chunk?: unknown;
}

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const SOURCE = "const _ = require('lodash');\nexports.lodash = _;\n";
const remotes: Record<string, BuiltRemote> = {};
let hostRoot: TempProject & { require: NodeJS.Require };
let emptyRoot: TempProject;

before(async () => {
  const specs = [
    // name, lodash version, package.json range, shared options
    ['remoteA', '4.17.20', '^4.17.0', { lodash: { singleton: true } }],
    ['remoteB', '4.17.15', '^4.17.0', { lodash: { singleton: true } }],
    ['remoteC', '3.10.1', '^3.10.0', { lodash: { singleton: true, strictVersion: true } }],
    ['remoteD', '3.10.1', '^3.10.0', { lodash: {} }],
    ['remoteF', '4.17.20', '^4.17.0', { lodash: {} }],
    ['remoteE', '4.17.20', '^4.17.0', { lodash: { singleton: true, import: false } }],
    ['remoteH', '4.17.20', '^4.17.0', { lodash: { singleton: true, shareScope: 'legacy', eager: true } }],
  ] as const;
  const built = await Promise.all([
    ...specs.map(([name, version, range, shared]) =>
      buildSharedRemote({
        name,
        packages: { lodash: version },
        dependencies: { lodash: range },
        shared,
        source: SOURCE,
      }),
    ),
    buildSharedRemote({
      name: 'remoteG',
      packages: { lodash: '4.17.20' },
      dependencies: { lodash: '^4.17.0' },
      shared: { 'lodash/': {} },
      source: "exports.chunk = require('lodash/chunk');\n",
    }),
  ]);
  for (const remote of built) remotes[remote.name] = remote;
  hostRoot = await createHostRoot({ lodash: '4.17.21' });
  emptyRoot = await createHostRoot({});
});

after(async () => {
  for (const remote of Object.values(remotes)) {
    await remote.server.close();
    await remote.project.remove();
  }
  await hostRoot?.remove();
  await emptyRoot?.remove();
});

function host(names: string[], options: Partial<HostOptions> = {}, warnings: string[] = []) {
  return createHost({
    name: 'userService',
    remotes: Object.fromEntries(names.map((name) => [name, remotes[name]!.url])),
    root: emptyRoot.dir,
    onWarning: (warning) => warnings.push(`${warning.code}: ${warning.message}`),
    cache: { dir: `${emptyRoot.dir}/.cache-${Math.random().toString(36).slice(2)}` },
    ...options,
  });
}

const fallbackFetched = (name: string) => remotes[name]!.server.requests.some((path) => path.includes('shared-lodash'));

describe('shared modules with real npm packages', () => {
  test('the build writes each shared package as a hashed fallback file listed in the manifest', () => {
    const entry = remotes.remoteA!.manifest.ferry.shared.lodash!;
    assert.match(String(entry.fallback), /^shared-lodash\.[0-9a-f]{10}\.js$/);
    assert.ok(remotes.remoteA!.manifest.ferry.files[entry.fallback as string], 'listed with size and integrity');
    assert.deepEqual(
      { version: entry.version, requiredVersion: entry.requiredVersion, singleton: entry.singleton },
      { version: '4.17.20', requiredVersion: '^4.17.0', singleton: true },
      'version from the installed package, requiredVersion from package.json',
    );
    assert.equal(remotes.remoteE!.manifest.ferry.shared.lodash!.fallback, false, 'import: false brings no copy');
    const deep = remotes.remoteG!.manifest.ferry;
    assert.deepEqual(Object.keys(deep.shared), ['lodash/chunk'], 'a `lodash/` key covers the deep import used');
    assert.deepEqual(deep.exposes['./index']!.shared, ['lodash/chunk']);
  });

  test('singleton: host and both remotes share one instance, the host copy (already loaded)', async () => {
    const h = host(['remoteA', 'remoteB'], { root: hostRoot.dir, shared: { lodash: { singleton: true } } });
    const [a, b] = await Promise.all([h.import<Exposed>('remoteA/index'), h.import<Exposed>('remoteB/index')]);
    const own = hostRoot.require('lodash') as Lodash;
    assert.equal(a.lodash, own);
    assert.equal(b.lodash, own);
    assert.equal(own.VERSION, '4.17.21');
    assert.equal(fallbackFetched('remoteA') || fallbackFetched('remoteB'), false, 'no fallback fetched');
    const report = h.shared().default!.lodash!;
    assert.deepEqual(report.chosen, ['4.17.21']);
    assert.deepEqual(report.provided.map((p) => `${p.version} ${p.from}`).sort(), [
      '4.17.15 remoteB',
      '4.17.20 remoteA',
      '4.17.21 userService',
    ]);
    assert.deepEqual(report.uses.map((u) => `${u.consumer}: ${u.version} from ${u.from}`).sort(), [
      'host "userService" (its own code): 4.17.21 from userService',
      'remote "remoteA" (./index): 4.17.21 from userService',
      'remote "remoteB" (./index): 4.17.21 from userService',
    ]);
    assert.match(report.uses[1]!.reason, /already loaded/);
    await h.close();
  });

  test('strictVersion: a singleton outside the range is a SharedVersionError naming both versions', async () => {
    const h = host(['remoteC'], { root: hostRoot.dir, shared: { lodash: { singleton: true } } });
    const error = await h.import('remoteC/index').catch((e: unknown) => e);
    assert.ok(error instanceof SharedVersionError, String(error));
    assert.equal(error.package, 'lodash');
    for (const part of ['4.17.21', '3.10.1', '^3.10.0', 'remoteC', 'userService', 'strictVersion']) {
      assert.ok(error.message.includes(part), `${part} in: ${error.message}`);
    }
  });

  test('without strictVersion, a singleton outside the range is used with a warning that says what to change', async () => {
    const warnings: string[] = [];
    const h = host(['remoteA'], { shared: { lodash: { singleton: true } }, root: hostRoot.dir }, warnings);
    // A host copy outside the remote's range: the host requires ^4 but provides it as version 5.0.0 (declared).
    const h5 = host(
      ['remoteA'],
      { shared: { lodash: { singleton: true, version: '5.0.0', requiredVersion: false } }, root: hostRoot.dir },
      warnings,
    );
    assert.equal((await h.import<Exposed>('remoteA/index')).lodash.VERSION, '4.17.21');
    assert.equal((await h5.import<Exposed>('remoteA/index')).lodash.VERSION, '4.17.21');
    const mismatch = warnings.find((w) => w.startsWith('FERRY_SHARED_VERSION_MISMATCH'));
    assert.ok(mismatch, warnings.join('\n'));
    assert.match(mismatch, /remoteA.*\^4\.17\.0.*4\.17\.20.*5\.0\.0 from userService.*Align the versions/s);
    assert.ok(h5.shared().default!.lodash!.uses.some((u) => u.warning !== undefined));
  });

  test('non-singleton: each remote gets a version in its range (the host copy, or its own fallback)', async () => {
    const h = host(['remoteF', 'remoteD'], { root: hostRoot.dir, shared: { lodash: {} } });
    const f = await h.import<Exposed>('remoteF/index');
    const d = await h.import<Exposed>('remoteD/index');
    assert.equal(f.lodash.VERSION, '4.17.21', '^4.17.0: the highest in range, the host copy');
    assert.equal(f.lodash, hostRoot.require('lodash'));
    assert.equal(d.lodash.VERSION, '3.10.1', '^3.10.0: nothing else fits, its own fallback');
    assert.equal(fallbackFetched('remoteD'), true);
    assert.equal(fallbackFetched('remoteF'), false, 'a fallback that is not chosen is never fetched');
    const uses = h.shared().default!.lodash!.uses.filter((u) => u.consumer.startsWith('remote'));
    assert.deepEqual(
      uses.map((u) => [u.consumer, u.version, u.from]),
      [
        ['remote "remoteF" (./index)', '4.17.21', 'userService'],
        ['remote "remoteD" (./index)', '3.10.1', 'remoteD'],
      ],
    );
  });

  test("a host without the package: the remote's fallback is fetched, verified and used", async () => {
    const h = host(['remoteA']);
    const a = await h.import<Exposed>('remoteA/index');
    assert.equal(a.lodash.VERSION, '4.17.20');
    assert.equal(fallbackFetched('remoteA'), true);
    assert.deepEqual(h.shared().default!.lodash!.chosen, ['4.17.20']);

    // Altered fallback bytes (same length) are refused before they run.
    const server = remotes.remoteB!.server;
    server.override = (req, res) => {
      if (!req.url?.includes('shared-lodash')) return false;
      const size =
        remotes.remoteB!.manifest.ferry.files[remotes.remoteB!.manifest.ferry.shared.lodash!.fallback as string]!.size;
      res.writeHead(200, { 'content-length': size });
      res.end(Buffer.alloc(size, 0x20));
      return true;
    };
    try {
      const error = await host(['remoteB'])
        .import('remoteB/index')
        .catch((e: unknown) => e);
      assert.ok(error instanceof IntegrityError, String(error));
      assert.match(error.message, /shared-lodash/);
    } finally {
      server.override = undefined;
    }
  });

  test('import: false with no provider is a SharedUnavailableError that says what to do', async () => {
    const error = await host(['remoteE'])
      .import('remoteE/index')
      .catch((e: unknown) => e);
    assert.ok(error instanceof SharedUnavailableError, String(error));
    assert.equal(error.package, 'lodash');
    assert.match(error.message, /remoteE.*lodash.*\^4\.17\.0.*nobody provides it.*import: false.*host's `shared`/s);
    // With a provider it works.
    const h = host(['remoteE'], { root: hostRoot.dir, shared: ['lodash'] });
    assert.equal((await h.import<Exposed>('remoteE/index')).lodash.VERSION, '4.17.21');
  });

  test('version-first picks the highest version of all remotes; loaded-first reuses the copy loaded first', async () => {
    const versionFirst = host(['remoteA', 'remoteB']);
    const b1 = await versionFirst.import<Exposed>('remoteB/index');
    assert.equal(b1.lodash.VERSION, '4.17.20', "remoteB gets remoteA's newer copy: every manifest is read first");
    assert.equal((await versionFirst.import<Exposed>('remoteA/index')).lodash, b1.lodash);
    assert.equal(versionFirst.shared().default!.lodash!.uses[0]!.reason, 'highest version provided');

    const loadedFirst = host(['remoteA', 'remoteB'], { shareStrategy: 'loaded-first' });
    const b2 = await loadedFirst.import<Exposed>('remoteB/index');
    assert.equal(b2.lodash.VERSION, '4.17.15', 'only remoteB is known: its own copy');
    const a2 = await loadedFirst.import<Exposed>('remoteA/index');
    assert.equal(a2.lodash, b2.lodash, 'remoteA gets the singleton already loaded, 4.17.15');
    assert.match(loadedFirst.shared().default!.lodash!.uses[1]!.reason, /already loaded/);
  });

  test('keys ending in "/" share deep imports; shareScope keeps scopes apart; eager fetches the fallback early', async () => {
    const h = host(['remoteG', 'remoteH'], {
      root: hostRoot.dir,
      shared: { 'lodash/': {}, lodash: { singleton: true } },
    });
    const g = await h.import<Exposed>('remoteG/index');
    assert.equal(g.chunk, hostRoot.require('lodash/chunk'), "the host's lodash/chunk");
    assert.deepEqual(h.shared().default!['lodash/chunk']!.chosen, ['4.17.21']);

    // remoteH negotiates lodash in scope "legacy", where the host provides nothing.
    await h.exposes('remoteH');
    // eager: the fetch starts when the manifest is registered, without waiting for an import.
    for (let i = 0; i < 100 && !fallbackFetched('remoteH'); i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(fallbackFetched('remoteH'), true, 'eager: fetched when the manifest is loaded');
    const hh = await h.import<Exposed>('remoteH/index');
    assert.equal(hh.lodash.VERSION, '4.17.20');
    assert.deepEqual(Object.keys(h.shared()).sort(), ['default', 'legacy']);
    assert.deepEqual(h.shared().legacy!.lodash!.chosen, ['4.17.20']);

    const bare = await host(['remoteG']).import<Exposed>('remoteG/index');
    assert.equal(typeof bare.chunk, 'function', "without a host copy, remoteG's fallback serves lodash/chunk");
  });
});

describe('shared modules across versions of a remote', () => {
  const versions: BuiltRemote[] = [];
  before(async () => {
    // The same remote twice: version 1 brings lodash 4.17.20, version 2 brings 4.17.15.
    for (const lodash of ['4.17.20', '4.17.15']) {
      versions.push(
        await buildSharedRemote({
          name: 'remoteX',
          packages: { lodash },
          dependencies: { lodash: '^4.17.0' },
          shared: { lodash: { singleton: true } },
          source: SOURCE,
        }),
      );
    }
  });
  after(async () => {
    for (const remote of versions) {
      await remote.server.close();
      await remote.project.remove();
    }
  });

  /** Points remoteX at version 2 and waits until version 1 is disposed. */
  async function replace(h: ReturnType<typeof host>): Promise<void> {
    const disposed = new Promise<void>((resolve) => h.on('disposed', () => resolve()));
    const outcome = await h.pointRemote('remoteX', versions[1]!.url);
    assert.equal(outcome.status, 'activated');
    await disposed;
  }
  const hostOf = (options: Partial<HostOptions> = {}) =>
    createHost({
      name: 'userService',
      remotes: { remoteX: versions[0]!.url },
      root: emptyRoot.dir,
      onWarning: () => {},
      cache: { dir: `${emptyRoot.dir}/.cache-${Math.random().toString(36).slice(2)}` },
      ...options,
    });

  test("a replaced version's unused fallback leaves the share scope, and its uses leave the report", async () => {
    const h = hostOf({ root: hostRoot.dir, shared: { lodash: { singleton: true } } });
    assert.equal((await h.import<Exposed>('remoteX/index')).lodash.VERSION, '4.17.21', "the host's copy");
    const before = h.shared().default!.lodash!;
    assert.deepEqual(before.provided.map((p) => `${p.version} ${p.from}`).sort(), [
      '4.17.20 remoteX',
      '4.17.21 userService',
    ]);
    await replace(h);
    assert.equal((await h.import<Exposed>('remoteX/index')).lodash.VERSION, '4.17.21');
    const after = h.shared().default!.lodash!;
    assert.deepEqual(
      after.provided.map((p) => `${p.version} ${p.from}`).sort(),
      ['4.17.15 remoteX', '4.17.21 userService'],
      'version 1 no longer offers its copy: nothing of it stays reachable through the scope',
    );
    assert.equal(after.uses.length, before.uses.length, 'one use per consumer, not one per version it ever had');
    await h.close();
  });

  test('a fallback copy in use stays the singleton after the version that provided it is disposed', async () => {
    const h = hostOf();
    // Kept out of this scope, so that only what ferry holds could keep version 1's exports alive.
    const { instance, firstExports } = await (async () => {
      const first = await h.import<Exposed>('remoteX/index');
      assert.equal(first.lodash.VERSION, '4.17.20', "version 1's own copy: the host has none");
      return { instance: first.lodash, firstExports: new WeakRef(first) };
    })();
    await replace(h);
    const second = await h.import<Exposed>('remoteX/index');
    assert.equal(second.lodash, instance, 'version 2 gets the one instance, already loaded');
    // The instance outlives version 1, but does not keep version 1 (its records, its exports) alive.
    for (let i = 0; i < 10 && firstExports.deref() !== undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      gc();
    }
    assert.equal(firstExports.deref(), undefined, "version 1's exports were collected");
    const report = h.shared().default!.lodash!;
    assert.deepEqual(report.chosen, ['4.17.20']);
    assert.equal(report.provided.find((p) => p.version === '4.17.20')?.loaded, true);
    assert.equal(report.uses.length, 1, report.uses.map((u) => u.consumer).join(', '));
    await h.close();
  });
});
