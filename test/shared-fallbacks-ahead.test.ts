/**
 * Shared fallbacks bundled ahead (src/build/shared-fallbacks.ts): `buildRemote()` bundles each shared package's
 * fallback for its own request while the exposes are bundled, and uses it only when the exposes turn out to need
 * exactly that. The output must be the bytes the old order (exposes first, then fallbacks) wrote, and failures must
 * be the ones it reported.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildRemote } from '../src/build/build.ts';
import { bundleExposes } from '../src/build/bundle.ts';
import { loadConfig } from '../src/build/config.ts';
import {
  bundleSharedFallbacks,
  type SpeculativeFallback,
  startSharedFallbacks,
} from '../src/build/shared-fallbacks.ts';
import { BuildError } from '../src/common/errors.ts';
import { MANIFEST_FILE } from '../src/manifest/index.ts';
import { CONFIG_TS, createRemoteProject, SOURCES } from './helpers/build-fixture.ts';

/** The fixture's validator with a deep import of the shared package: its fallback must serve two requests. */
const DEEP_IMPORT = {
  'src/tokenValidator.ts': `${SOURCES['src/tokenValidator.ts']}export { default as decode } from 'jsonwebtoken/decode.js';\n`,
};

async function filesOf(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  // The files of the folder itself (releases/ holds copies of manifests, whose release differs between builds).
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (entry.isFile() && entry.name !== MANIFEST_FILE)
      files.set(entry.name, await readFile(join(dir, entry.name), 'base64'));
  }
  return files;
}

/** The fallbacks as the build made them before they were bundled ahead: after the exposes, from their requests. */
async function fallbacksTheOldWay(root: string) {
  const config = await loadConfig({ root });
  const { bundles } = await bundleExposes(config);
  return bundleSharedFallbacks(config, bundles);
}

test('building the same remote twice writes the same bytes, and the fallback is the one the old order made', async () => {
  await using project = await createRemoteProject();
  const first = await buildRemote({ root: project.dir, outDir: 'out-1' });
  const second = await buildRemote({ root: project.dir, outDir: 'out-2' });
  assert.deepEqual(await filesOf(first.outDir), await filesOf(second.outDir));
  assert.deepEqual(first.manifest.ferry.files, second.manifest.ferry.files);

  const [old] = await fallbacksTheOldWay(project.dir);
  assert.deepEqual(old!.requests, ['jsonwebtoken']);
  assert.equal(first.manifest.ferry.shared.jsonwebtoken?.fallback, old!.fallback!.file);
  assert.deepEqual(await readFile(join(first.outDir, old!.fallback!.file)), Buffer.from(old!.fallback!.code));
});

test('a key that serves deep imports too is bundled again for them; the result bundled ahead is discarded', async () => {
  await using project = await createRemoteProject(DEEP_IMPORT);
  const built = await buildRemote({ root: project.dir });
  const [old] = await fallbacksTheOldWay(project.dir);
  assert.deepEqual(old!.requests, ['jsonwebtoken', 'jsonwebtoken/decode.js']);
  assert.equal(built.manifest.ferry.shared.jsonwebtoken?.fallback, old!.fallback!.file);
  const code = await readFile(join(built.outDir, old!.fallback!.file), 'utf8');
  assert.equal(code, new TextDecoder().decode(old!.fallback!.code));
  assert.match(code, /"jsonwebtoken\/decode\.js": \(\) =>/);

  // What was bundled ahead, failed or not, plays no part when the requests differ.
  const config = await loadConfig({ root: project.dir });
  const { bundles } = await bundleExposes(config);
  for (const ahead of [
    { ok: false, error: new BuildError('bundled ahead and failed') },
    { ok: true, code: new TextEncoder().encode('not this one') },
  ] satisfies SpeculativeFallback[]) {
    const [module] = await bundleSharedFallbacks(config, bundles, new Map([['jsonwebtoken', Promise.resolve(ahead)]]));
    assert.equal(module!.fallback!.file, old!.fallback!.file);
  }
});

test('a fallback that cannot be bundled fails the build with the BuildError the old order gave, writing nothing', async () => {
  await using project = await createRemoteProject({
    'ferry.config.ts': CONFIG_TS.replace(
      'shared: { jsonwebtoken: { singleton: true } }',
      "shared: { jsonwebtoken: { singleton: true }, 'not-installed-anywhere': { version: '1.0.0' } }",
    ),
  });
  const failure = await buildRemote({ root: project.dir }).then(
    () => assert.fail('the build succeeded'),
    (error: unknown) => error,
  );
  assert.ok(failure instanceof BuildError, String(failure));
  assert.match(
    failure.message,
    /fallback copy of the shared package "not-installed-anywhere".*\n.*not-installed-anywhere/,
  );
  const old = await fallbacksTheOldWay(project.dir).then(
    () => assert.fail('the old order succeeded'),
    (error: unknown) => error,
  );
  assert.ok(old instanceof BuildError);
  assert.equal(failure.message, old.message);
  assert.equal(failure.code, old.code);
  await assert.rejects(readdir(project.path('dist')), { code: 'ENOENT' });
});

test('only package keys that bring a copy are bundled ahead, each for its own request', async () => {
  await using project = await createRemoteProject({
    'ferry.config.ts': CONFIG_TS.replace(
      'shared: { jsonwebtoken: { singleton: true } }',
      "shared: { jsonwebtoken: { singleton: true }, 'ms/': {}, semver: { import: false, version: '7.0.0' } }",
    ),
  });
  const config = await loadConfig({ root: project.dir });
  const ahead = startSharedFallbacks(config);
  assert.deepEqual([...ahead.keys()], ['jsonwebtoken']);
  const result = await ahead.get('jsonwebtoken')!;
  assert.ok(result.ok);
  assert.match(new TextDecoder().decode(result.code), /"jsonwebtoken": \(\) =>/);

  // When the exposes need exactly [key], the result bundled ahead is the one used, and its failure is the key's.
  const { bundles } = await bundleExposes(config);
  const marked = new TextEncoder().encode('// bundled ahead\n');
  const used = await bundleSharedFallbacks(
    config,
    bundles,
    new Map([['jsonwebtoken', Promise.resolve({ ok: true, code: marked } as const)]]),
  );
  assert.equal(used.find((module) => module.key === 'jsonwebtoken')!.fallback!.code, marked);
  const failed = new BuildError('bundled ahead and failed');
  await assert.rejects(
    bundleSharedFallbacks(
      config,
      bundles,
      new Map([['jsonwebtoken', Promise.resolve({ ok: false, error: failed } as const)]]),
    ),
    (error) => error === failed,
  );
});
