/**
 * ferry's mf-manifest.json is a Module Federation 2.0 manifest: its type is assignable to `@module-federation/sdk`'s
 * `Manifest` (checked by `npm run typecheck`, which compiles this file), and the sdk's own reader turns a real build's
 * manifest into the snapshot MF's runtime loads remotes from.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { generateSnapshotFromManifest, type Manifest as MfManifest } from '@module-federation/sdk';
import { buildRemote } from '../../src/build/index.ts';
import { type Manifest, parseManifest } from '../../src/manifest/index.ts';
import { createTempProject } from '../helpers/temp-project.ts';

/** Compiles only if ferry's manifest type is assignable to the sdk's: the type-level check. */
function asMfManifest(manifest: Manifest): MfManifest {
  return manifest;
}

test("a ferry build's mf-manifest.json is what @module-federation/sdk reads: remoteEntry, exposes, shared with hash, remotes", async () => {
  await using project = await createTempProject(
    {
      'package.json': JSON.stringify({ name: 'auth-service', version: '2.1.0', type: 'module' }),
      'ferry.config.ts': `export default {
  name: 'authService',
  exposes: { './validator': './src/validator.ts' },
  shared: { jsonwebtoken: { singleton: true, requiredVersion: '^9.0.0' }, ms: { requiredVersion: false, import: false } },
  remotes: { pricing: 'pricing@http://127.0.0.1:9/mf-manifest.json' },
};
`,
      'src/validator.ts': "import jwt from 'jsonwebtoken';\nexport const sign = jwt.sign;\n",
    },
    { link: ['jsonwebtoken', 'ms'] },
  );
  const { outDir } = await buildRemote({ root: project.dir, outDir: 'dist', baseline: false });
  const manifest = parseManifest(await readFile(`${outDir}/mf-manifest.json`), 'mf-manifest.json');
  const snapshot = generateSnapshotFromManifest(asMfManifest(manifest), {
    version: 'http://127.0.0.1:3001/mf-manifest.json',
  }) as unknown as Record<string, unknown>;
  assert.equal(snapshot['remoteEntry'], 'remoteEntry.js');
  assert.equal(snapshot['remoteEntryType'], 'commonjs-module');
  assert.equal(snapshot['publicPath'], 'http://127.0.0.1:3001/');
  assert.deepEqual(
    (snapshot['modules'] as Array<{ modulePath: string }>).map((module) => module.modulePath),
    ['./validator'],
  );
  // MF reads a remote's container name from `federationContainerName` (ferry 0.1 wrote `federatedContainerName`).
  assert.deepEqual(snapshot['remotesInfo'], { pricing: { matchedVersion: 'http://127.0.0.1:9/mf-manifest.json' } });
  const jwtEntry = manifest.shared.find((entry) => entry.name === 'jsonwebtoken')!;
  const fallback = manifest.ferry.shared['jsonwebtoken']!.fallback as string;
  assert.equal(jwtEntry.hash, manifest.ferry.files[fallback]!.integrity, 'hash: the fallback copy’s integrity');
  const msEntry = manifest.shared.find((entry) => entry.name === 'ms')!;
  assert.equal(msEntry.hash, '', 'no copy (import: false): an empty hash');
  assert.equal(msEntry.requiredVersion, '*', 'requiredVersion false is written as MF’s "*"');
});
