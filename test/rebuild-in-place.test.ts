/**
 * A signed remote rebuilt in place while hosts load it: `buildRemote()` writes 25 builds into the folder a
 * createRequestHandler() server serves, while fresh hosts (each with its own cache folder, so every load fetches the
 * manifest, its signature and every file) import from it without pause. No host may get a container of another build
 * than its manifest (ERR_FERRY_INTEGRITY) or a signature of another build (ERR_FERRY_SIGNATURE): the container the
 * manifest lists is content-addressed, and a signature that does not match is fetched again by the name of the exact
 * manifest bytes (mf-manifest.<hash>.sig, written before the manifest).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildRemote } from '../src/build/index.ts';
import { createHost, FerryError } from '../src/index.ts';
import { generateSigningKeys } from '../src/manifest/index.ts';
import { createRequestHandler } from '../src/server/index.ts';
import { createRemoteProject } from './helpers/build-fixture.ts';

const REBUILDS = 25;
const IMPORTERS = 4;

test('25 rebuilds in place while fresh signed hosts import: no integrity or signature failure', async () => {
  const { privateKeyPem, publicKey } = generateSigningKeys();
  await using project = await createRemoteProject({
    'keys/ferry.pem': privateKeyPem,
    // No declarations: they are not what this test is about, and tsc would make each build slow.
    'ferry.config.ts': `export default {
  name: 'authService',
  exposes: { './other': './src/other.ts' },
  sign: './keys/ferry.pem',
  dts: false,
};
`,
  });
  const build = async (answer: number) => {
    await project.write('src/other.ts', `export const answer: number = ${answer};\n`);
    await buildRemote({ root: project.dir, env: {} });
  };
  await build(0);
  const handler = createRequestHandler({ dir: project.path('dist', 'federation'), events: false });
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mf-manifest.json`;

  // One folder for every host's cache, removed at the end: a failed import may still be writing into its own.
  const caches = await mkdtemp(join(tmpdir(), 'ferry-rebuild-caches-'));
  const answers = new Set<number>();
  const failures = new Map<string, number>();
  let imports = 0;
  let building = true;
  const importer = async () => {
    while (building) {
      const cacheDir = await mkdtemp(join(caches, 'host-'));
      const host = createHost({
        name: 'userService',
        remotes: { authService: { url, publicKey } },
        cache: { dir: cacheDir },
        live: { pollInterval: false, push: false },
        onWarning: () => {},
      });
      try {
        answers.add((await host.import<{ answer: number }>('authService/other')).answer);
        imports++;
      } catch (error) {
        const code = error instanceof FerryError ? error.code : String(error);
        failures.set(code, (failures.get(code) ?? 0) + 1);
      } finally {
        await host.close();
      }
    }
  };
  const importers = Array.from({ length: IMPORTERS }, importer);
  try {
    for (let answer = 1; answer <= REBUILDS; answer++) await build(answer);
  } finally {
    building = false;
    await Promise.all(importers);
    handler.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await rm(caches, { recursive: true, force: true, maxRetries: 5 });
  }
  console.log(
    `${imports} imports of ${answers.size} builds; failures: ${JSON.stringify(Object.fromEntries(failures))}`,
  );
  assert.equal(failures.get('ERR_FERRY_INTEGRITY') ?? 0, 0, 'a container of another build than its manifest');
  assert.equal(failures.get('ERR_FERRY_SIGNATURE') ?? 0, 0, 'a signature of another build than its manifest');
  assert.deepEqual(Object.fromEntries(failures), {});
  assert.ok(imports >= 50, `only ${imports} imports`);
  assert.ok(answers.size >= 10, `imports saw only ${answers.size} of ${REBUILDS + 1} builds`);
});
