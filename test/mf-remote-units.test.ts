/**
 * The pure parts of Module Federation remotes in a ferry host (src/runtime/mf/): the lock file's guards and its stable
 * bytes, the MF manifest's guards (getPublicPath, publicPath, unsafe file names), the externals scan, and the remote
 * options. The builds, servers and hosts are in test/interop/mf-remote-*.interop.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import {
  createHost,
  InvalidManifestError,
  InvalidOptionError,
  LockError,
  UnsupportedContainerError,
} from '../src/index.ts';
import { requiredPackages } from '../src/runtime/mf/container-files.ts';
import { emptyLock, isSafeLockedName, parseLock, serializeLock } from '../src/runtime/mf/lock-file.ts';
import { parseMfManifest } from '../src/runtime/mf/mf-manifest.ts';
import { resolveHostOptions } from '../src/runtime/options/host-options.ts';

const INTEGRITY = `sha384-${'A'.repeat(64)}`;
const URL_KEY = 'http://127.0.0.1:3001/mf-manifest.json';

function lockText(remote: Record<string, unknown>, version: unknown = 1): string {
  return JSON.stringify({ lockfileVersion: version, remotes: { [URL_KEY]: remote } });
}

const goodRemote = {
  name: 'authServiceRemote',
  entry: 'remoteEntry.js',
  manifest: 'mf-manifest.json',
  exposes: { './tokenValidator': ['chunk.js'] },
  files: {
    'remoteEntry.js': { size: 10, integrity: INTEGRITY },
    'mf-manifest.json': { size: 5, integrity: INTEGRITY },
    'chunk.js': { size: 3, integrity: INTEGRITY },
  },
  packages: ['jsonwebtoken'],
};

test('the lock file: valid entries parse; every malformed field is refused as a LockError naming the file and the fix', () => {
  const parsed = parseLock(lockText(goodRemote), '/host/ferry.lock');
  assert.deepEqual(parsed.remotes[URL_KEY]!.exposes, { './tokenValidator': ['chunk.js'] });
  const bad: Array<[string, string]> = [
    ['not json', 'not JSON'],
    [lockText(goodRemote, 2), 'lockfileVersion is 2'],
    [lockText({ ...goodRemote, entry: 'other.js' }), 'entry names "other.js"'],
    [lockText({ ...goodRemote, files: { '../x.js': { size: 1, integrity: INTEGRITY } } }), 'unsafe name'],
    [lockText({ ...goodRemote, files: { 'remoteEntry.js': { size: 1, integrity: 'sha256-x' } } }), 'is not { size'],
    [lockText({ ...goodRemote, exposes: { tokenValidator: [] } }), 'has the key'],
    [lockText({ ...goodRemote, exposes: { './x': ['missing.js'] } }), 'not in its files'],
    [lockText({ ...goodRemote, packages: [1] }), 'packages is not'],
    [JSON.stringify({ lockfileVersion: 1, remotes: { 'file:///x': goodRemote } }), 'not an http(s) URL'],
  ];
  for (const [text, message] of bad) {
    assert.throws(
      () => parseLock(text, '/host/ferry.lock'),
      (error: unknown) =>
        error instanceof LockError &&
        error.reason === 'malformed' &&
        error.message.includes('/host/ferry.lock') &&
        error.message.includes(message) &&
        error.message.includes('`ferry lock`'),
      message,
    );
  }
});

test('the lock file is written with sorted keys (expose file order kept), so equal content is equal bytes', () => {
  const a = emptyLock();
  a.remotes[URL_KEY] = { ...goodRemote, exposes: { './tokenValidator': ['z.js', 'a.js'] } } as never;
  const shuffled = JSON.parse(JSON.stringify(a));
  shuffled.remotes[URL_KEY] = Object.fromEntries(Object.entries(shuffled.remotes[URL_KEY]).reverse());
  assert.equal(serializeLock(a), serializeLock(shuffled));
  assert.match(serializeLock(a), /"z\.js",\n\s+"a\.js"/);
  assert.ok(serializeLock(a).endsWith('}\n'));
  assert.ok(isSafeLockedName('dir/chunk.abc.js'));
  for (const name of ['../x.js', '/abs.js', 'a//b.js', 'http://x/y.js', 'a\\b.js', './x.js']) {
    assert.equal(isSafeLockedName(name), false, name);
  }
});

const manifest = (metaData: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) =>
  Buffer.from(
    JSON.stringify({
      id: 'authServiceRemote',
      name: 'authServiceRemote',
      metaData: {
        name: 'authServiceRemote',
        buildInfo: { buildVersion: '1.2.3', buildName: 'auth' },
        remoteEntry: { name: 'remoteEntry.js', path: '', type: 'commonjs-module' },
        publicPath: 'auto',
        ...metaData,
      },
      shared: [
        {
          name: 'jsonwebtoken',
          version: '9.0.3',
          singleton: true,
          requiredVersion: '^9.0.0',
          assets: { js: { sync: ['vendors.js'], async: [] }, css: { sync: [], async: [] } },
        },
      ],
      remotes: [],
      exposes: [
        {
          id: 'authServiceRemote:tokenValidator',
          name: 'tokenValidator',
          path: './tokenValidator',
          assets: { js: { sync: ['expose.js'], async: ['lazy.js'] }, css: { sync: [], async: [] } },
        },
      ],
      ...extra,
    }),
  );

test('an MF manifest: its container, expose and shared chunks; getPublicPath, a foreign publicPath and unsafe names are refused', () => {
  const parsed = parseMfManifest(manifest(), URL_KEY, 'authServiceRemote');
  assert.equal(parsed.entry, 'remoteEntry.js');
  assert.equal(parsed.buildVersion, '1.2.3');
  assert.deepEqual(parsed.exposes, { './tokenValidator': ['expose.js', 'lazy.js'] });
  assert.deepEqual(parsed.shared['jsonwebtoken'], {
    version: '9.0.3',
    requiredVersion: '^9.0.0',
    singleton: true,
    files: ['vendors.js'],
  });
  assert.equal(
    parseMfManifest(
      manifest({ remoteEntry: { name: 'remoteEntry.js', path: 'server', type: 'commonjs-module' } }),
      URL_KEY,
      'a',
    ).entry,
    'server/remoteEntry.js',
  );
  assert.throws(
    () => parseMfManifest(manifest({ getPublicPath: 'return "http://evil/"' }), URL_KEY, 'authServiceRemote'),
    (error: unknown) => error instanceof InvalidManifestError && /getPublicPath.*never runs code/s.test(error.message),
  );
  assert.throws(
    () => parseMfManifest(manifest({ publicPath: 'https://cdn.example.com/' }), URL_KEY, 'authServiceRemote'),
    (error: unknown) => error instanceof UnsupportedContainerError && /publicPath: 'auto'/.test(error.message),
  );
  assert.throws(
    () =>
      parseMfManifest(
        manifest({ remoteEntry: { name: '../../etc/x.js', path: '', type: 'commonjs-module' } }),
        URL_KEY,
        'a',
      ),
    InvalidManifestError,
  );
  assert.throws(
    () => parseMfManifest(manifest({}, { ferry: { formatVersion: 1 } }), URL_KEY, 'a'),
    /is a ferry manifest/,
  );
  assert.throws(() => parseMfManifest(Buffer.from('<html>'), URL_KEY, 'a'), InvalidManifestError);
  assert.throws(
    () =>
      parseMfManifest(manifest({ remoteEntry: { name: 'remoteEntry.js', path: '', type: 'global' } }), URL_KEY, 'a'),
    (error: unknown) =>
      error instanceof UnsupportedContainerError &&
      /library type "global".*type: 'commonjs-module'/s.test(error.message),
  );
  assert.throws(
    () =>
      parseMfManifest(
        manifest({}, { remotes: [{ federationContainerName: 'other', entry: 'http://x/y.js' }] }),
        URL_KEY,
        'a',
      ),
    (error: unknown) =>
      error instanceof UnsupportedContainerError && /remotes of its own.*outside ferry/s.test(error.message),
  );
});

test('the packages a container requires: its externals, not builtins, relative files or MF runtime packages', () => {
  const sources = [
    'module.exports = require("jsonwebtoken");\nmodule.exports = require("@scope/pkg/deep");',
    'const fs = require("fs"); require("node:path"); require("./chunk.js"); require("@module-federation/runtime");',
    'eval("const x = require(\\"dotenv\\")")',
  ];
  assert.deepEqual(requiredPackages(sources), ['@scope/pkg', 'dotenv', 'jsonwebtoken']);
});

test("remote options: type 'module-federation' keeps a .js URL, pushes nothing, refuses keys and channels; unpinned only for MF remotes", () => {
  const base = { name: 'userService', root: '/host', onWarning: () => {} };
  const resolved = resolveHostOptions({
    ...base,
    remotes: {
      a: { url: 'http://127.0.0.1:1/dist/remoteEntry.js', type: 'module-federation' },
      b: { url: 'http://127.0.0.1:1/dist/remoteEntry.js' },
    },
  });
  assert.equal(resolved.remotes[0]!.manifestUrl, 'http://127.0.0.1:1/dist/remoteEntry.js');
  assert.equal(resolved.remotes[0]!.live.push, false);
  assert.equal(resolved.remotes[0]!.lockFile, '/host/ferry.lock');
  assert.equal(resolved.remotes[1]!.manifestUrl, 'http://127.0.0.1:1/dist/mf-manifest.json', 'ferry remotes unchanged');
  assert.equal(
    resolveHostOptions({ ...base, lockFile: 'locks/ferry.lock', remotes: {} }).lockFile,
    '/host/locks/ferry.lock',
  );
  const refused: Array<[Record<string, unknown>, RegExp]> = [
    [{ url: 'http://127.0.0.1:1/m.json', type: 'webpack' }, /type.*"ferry" or "module-federation"/],
    [
      {
        url: 'http://127.0.0.1:1/m.json',
        type: 'module-federation',
        publicKey: `ed25519:${generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x}`,
      },
      /no signature.*ferry lock/s,
    ],
    [{ url: 'http://127.0.0.1:1/m.json', unpinned: true }, /unpinned.*only to Module Federation remotes/s],
    [{ url: 'http://127.0.0.1:1/m.json', type: 'module-federation', unpinned: 'yes' }, /unpinned.*true or false/s],
    [{ url: 'http://auth.example.com/m.json', type: 'module-federation' }, /http/],
  ];
  for (const [remote, message] of refused) {
    assert.throws(
      () => createHost({ ...base, remotes: { a: remote as never } }),
      (error: unknown) => error instanceof InvalidOptionError && message.test(error.message),
      String(message),
    );
  }
  assert.throws(() => createHost({ ...base, lockFile: '' as never, remotes: {} }), /lockFile/);
  // A locked MF remote is accepted under requireSignatures (the lock pins exact bytes).
  assert.doesNotThrow(() =>
    resolveHostOptions({
      ...base,
      requireSignatures: true,
      remotes: { a: { url: 'http://127.0.0.1:1/m.json', type: 'module-federation' } },
    }),
  );
});

test("containment: a rejection that is not the container's gets what Node would do without ferry's listener", () => {
  const containment = pathToFileURL(join(import.meta.dirname, '../src/runtime/mf/containment.ts')).href;
  const script = `
    import { contain } from ${JSON.stringify(containment)};
    const step = contain(() => new Promise((resolve) => setTimeout(resolve, 50)), ['ferry://x@1.0.0/'], {
      alias: 'x', url: 'http://127.0.0.1:1/mf-manifest.json', version: '1.0.0', what: 'init()',
    });
    Promise.reject(new Error('the host\\'s own bug'));
    await step;
    console.log('step done');
  `;
  const run = (flags: string[]) =>
    spawnSync(process.execPath, [...flags, '--input-type=module', '-e', script], { encoding: 'utf8' });
  const thrown = run([]);
  assert.equal(thrown.status, 1, 'default mode: the host crashes as it would without ferry');
  assert.match(thrown.stderr, /the host's own bug/);
  const warned = run(['--unhandled-rejections=warn']);
  assert.equal(warned.status, 0, warned.stderr);
  assert.match(warned.stdout, /step done/);
  assert.match(warned.stderr, /the host's own bug/);
  const attributed = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `
    import { contain } from ${JSON.stringify(containment)};
    const step = contain(() => new Promise(() => {}), ['remote-code-marker'], {
      alias: 'x', url: 'http://127.0.0.1:1/mf-manifest.json', version: '1.0.0', what: 'get("./a")',
    });
    const error = new Error('from the container');
    error.stack = 'Error: from the container\\n    at load (remote-code-marker/remoteEntry.js:1:1)';
    Promise.reject(error);
    await step.then(() => console.log('resolved'), (e) => console.log(e.code, e.message));
  `,
    ],
    { encoding: 'utf8' },
  );
  assert.equal(attributed.status, 0, attributed.stderr);
  assert.match(
    attributed.stdout,
    /ERR_FERRY_EVALUATION .*failed asynchronously while evaluating get\("\.\/a"\): from the container/,
  );
});
