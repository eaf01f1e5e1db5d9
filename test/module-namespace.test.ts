/**
 * The namespace a ferry module's `import` gives (src/common/module-namespace.ts), against what Node gives for the
 * same ES module: live read-only bindings, `export *` without `default` and without shadowing own names, no
 * prototype, not extensible, `Symbol.toStringTag` "Module".
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toFerryModule } from '../src/build/ferry-module.ts';
import {
  commonJsNamespace,
  createNamespace,
  FERRY_MODULE_PARAMETERS,
  ferryModuleArguments,
  namespaceOfAccessors,
} from '../src/common/module-namespace.ts';

test('createNamespace: live getters, read-only, sealed like an ES module namespace', () => {
  let counter = 1;
  const other = { fromStar: 'star', shared: 'star version', default: 'star default' };
  const ns = createNamespace({ counter: () => counter, shared: () => 'own version', default: () => 'own default' }, [
    other,
    null,
    42,
  ]) as Record<string | symbol, unknown>;
  assert.equal(ns.counter, 1);
  counter = 2;
  assert.equal(ns.counter, 2, 'a binding is read at each access');
  assert.equal(ns.shared, 'own version', 'an own export wins over a star export of the same name');
  assert.equal(ns.default, 'own default', 'export * never brings a default');
  assert.equal(ns.fromStar, 'star');
  (other as Record<string, unknown>).fromStar = 'changed';
  assert.equal(ns.fromStar, 'changed', 'star exports are live too');
  assert.deepEqual(Object.keys(ns), ['counter', 'shared', 'default', 'fromStar']);
  assert.equal(Object.getPrototypeOf(ns), null);
  assert.equal(Object.isExtensible(ns), false);
  assert.equal(Object.prototype.toString.call(ns), '[object Module]');
  assert.throws(() => {
    ns.counter = 5;
  }, TypeError);
  assert.throws(() => {
    ns.added = 1;
  }, TypeError);
  for (const name of ['counter', 'shared', 'fromStar']) {
    const descriptor = Object.getOwnPropertyDescriptor(ns, name)!;
    assert.equal(descriptor.enumerable, true, name);
    assert.equal(descriptor.set, undefined, name);
    assert.equal(typeof descriptor.get, 'function', name);
  }
});

test('createNamespace: each name keeps its own getter (thousands of exports)', () => {
  const exports: Record<string, () => unknown> = {};
  for (let i = 0; i < 5000; i++) exports[`name${i}`] = () => i;
  const ns = createNamespace(exports) as Record<string, unknown>;
  for (let i = 0; i < 5000; i += 499) assert.equal(ns[`name${i}`], i);
  assert.equal(Object.keys(ns).length, 5000);
});

test('commonJsNamespace: own names and default = module.exports', () => {
  const exports = { a: 1, default: 'ignored as a name' };
  const ns = commonJsNamespace(exports) as Record<string, unknown>;
  assert.equal(ns.a, 1);
  assert.equal(ns.default, exports);
});

test('commonJsNamespace: one namespace per module.exports, as Node makes one; its names as at the first import', () => {
  const exports: Record<string, unknown> = { a: 1 };
  const first = commonJsNamespace(exports) as Record<string, unknown>;
  exports.a = 2;
  exports.b = 3;
  const again = commonJsNamespace(exports) as Record<string, unknown>;
  assert.equal(again, first, 'the same module.exports, the same namespace');
  assert.equal(again.a, 2, 'its values are live');
  assert.deepEqual(Object.keys(again), ['a', 'default'], 'a name added later is not one (Node lists them once too)');
  assert.notEqual(commonJsNamespace({ a: 1 }), first, 'another module, another namespace');
  // A module.exports that is not an object has no identity to keep: a namespace each time, default the value.
  assert.equal((commonJsNamespace(42) as Record<string, unknown>).default, 42);
  const fn = () => 'f';
  assert.equal(commonJsNamespace(fn), commonJsNamespace(fn), 'a function module.exports too');
});

/** Runs a ferry module's code with a host's arguments, `__ferryNamespace` replaced when `namespace` is given. */
async function runFerryModule(code: string, namespace?: unknown): Promise<Record<string, unknown>> {
  const body = new Function(...FERRY_MODULE_PARAMETERS, code) as (...args: unknown[]) => Promise<object>;
  const args = ferryModuleArguments({
    require: () => undefined,
    import: async () => ({}),
    moduleMeta: () => ({}),
    meta: {},
  });
  if (namespace !== undefined) args[FERRY_MODULE_PARAMETERS.indexOf('__ferryNamespace')] = namespace;
  return (await body(...args)) as Record<string, unknown>;
}

const EXPORTING =
  'let counter = 1;\nconst bump = () => ++counter;\nconst answer = 42;\n' +
  'export { counter, bump, answer as "__proto__", answer as "with space", answer as constructor };\n';

/** What every namespace of EXPORTING must be, whichever host built it. */
function assertExportingNamespace(ns: Record<string, unknown>): void {
  assert.deepEqual(Object.keys(ns), ['counter', 'bump', '__proto__', 'with space', 'constructor']);
  assert.equal(Object.getPrototypeOf(ns), null, '`__proto__` named an export, it did not set a prototype');
  assert.equal(Object.getOwnPropertyDescriptor(ns, '__proto__')?.get?.(), 42);
  assert.equal(ns['with space'], 42);
  assert.equal(ns['constructor'], 42);
  assert.equal(ns['counter'], 1);
  (ns['bump'] as () => number)();
  assert.equal(ns['counter'], 2, 'bindings stay live');
  assert.equal(Object.isExtensible(ns), false);
  assert.equal(Object.prototype.toString.call(ns), '[object Module]');
  const descriptor = Object.getOwnPropertyDescriptor(ns, 'counter')!;
  assert.equal(descriptor.configurable, false);
  assert.equal(descriptor.enumerable, true);
  assert.equal(descriptor.set, undefined);
  assert.throws(() => {
    ns['counter'] = 5;
  }, TypeError);
  assert.throws(() => {
    ns['added'] = 1;
  }, TypeError);
}

test('toFerryModule: the export list is a literal of getters the host freezes into the namespace', async () => {
  const code = await toFerryModule(EXPORTING, 'x.js', (specifier) => specifier);
  assert.match(code, /\{ __proto__: null, get "counter"\(\) \{ return counter; \}, /);
  let handed: object | undefined;
  const builder = Object.assign((exports: Record<string, () => unknown>) => createNamespace(exports), {
    accessors: (exports: object, stars?: readonly unknown[]) => {
      handed = exports;
      return namespaceOfAccessors(exports, stars);
    },
  });
  const ns = await runFerryModule(code, builder);
  assert.equal(ns, handed, 'the export list itself is the namespace: nothing copied name by name');
  assertExportingNamespace(ns);
  assertExportingNamespace(await runFerryModule(code));
});

test('toFerryModule: a host without `accessors` (an older ferry) is handed the older export list', async () => {
  const code = await toFerryModule(EXPORTING, 'x.js', (specifier) => specifier);
  // The older host's builder: name -> a function reading the binding, defined one by one (createNamespace).
  let handed: Record<string, unknown> | undefined;
  const older = (exports: Record<string, () => unknown>, stars?: readonly unknown[]) => {
    handed = exports;
    return createNamespace(exports, stars);
  };
  const ns = await runFerryModule(code, older);
  assert.ok(handed);
  for (const value of Object.values(handed)) assert.equal(typeof value, 'function');
  assertExportingNamespace(ns);
});

test('a module of the older form (name -> function) still gets its namespace from this host', async () => {
  const ns = await runFerryModule(
    'let n = 1;\nconst up = () => ++n;\nreturn __ferryNamespace({ n: () => n, up: () => up });',
  );
  assert.deepEqual(Object.keys(ns), ['n', 'up']);
  (ns['up'] as () => number)();
  assert.equal(ns['n'], 2);
  assert.equal(Object.isExtensible(ns), false);
});

test('namespaceOfAccessors: export * adds the names the module does not export itself, never default', () => {
  const other = { fromStar: 'star', shared: 'star version', default: 'star default' };
  const ns = namespaceOfAccessors(
    {
      __proto__: null,
      get shared() {
        return 'own version';
      },
    },
    [other, null, 42],
  ) as Record<string, unknown>;
  assert.deepEqual(Object.keys(ns), ['shared', 'fromStar']);
  assert.equal(ns['shared'], 'own version');
  assert.equal(ns['default'], undefined);
  other.fromStar = 'changed';
  assert.equal(ns['fromStar'], 'changed', 'star exports are live');
  assert.equal(Object.isFrozen(ns), true);
});

test('commonJsNamespace: a name from Object.prototype is an own export, nothing else is inherited', () => {
  const exports = { constructor: 'mine', toString: 'also mine' };
  const ns = commonJsNamespace(exports) as Record<string, unknown>;
  assert.deepEqual(Object.keys(ns), ['constructor', 'toString', 'default']);
  assert.equal(ns['constructor'], 'mine');
  assert.equal(ns['hasOwnProperty'], undefined);
});

test('toFerryModule: `export * from` a package adds its names, beside own exports and alone', async () => {
  const pkg = { fromPkg: 'pkg', shared: 'pkg version', default: 'pkg default' };
  const run = async (source: string) => {
    const code = await toFerryModule(source, 'x.js', (specifier) => specifier);
    const body = new Function(...FERRY_MODULE_PARAMETERS, code) as (...args: unknown[]) => Promise<object>;
    const args = ferryModuleArguments({
      require: () => undefined,
      import: async (specifier) => {
        assert.equal(specifier, 'pkg');
        return pkg;
      },
      moduleMeta: () => ({}),
      meta: {},
    });
    return (await body(...args)) as Record<string, unknown>;
  };
  const mixed = await run('export * from "pkg";\nconst shared = "own version";\nexport { shared };\n');
  assert.deepEqual(Object.keys(mixed), ['shared', 'fromPkg']);
  assert.equal(mixed['shared'], 'own version');
  assert.equal(mixed['default'], undefined);
  assert.equal(Object.isFrozen(mixed), true);
  const starsOnly = await run('export * from "pkg";\n');
  assert.deepEqual(Object.keys(starsOnly), ['fromPkg', 'shared']);
  assert.equal(Object.prototype.toString.call(starsOnly), '[object Module]');
});
