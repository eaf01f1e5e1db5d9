/**
 * The Module Federation stack the interop tests run against, as installed from the npm registry (root
 * devDependencies): the versions ../shared/mf-interop.md measured. webpack 5.112 moved a file @module-federation/node
 * 2.7.52 requires, so a webpack upgrade past 5.111 must fail here, saying why, before the interop tests fail obscurely.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../helpers/temp-project.ts';

const require = createRequire(import.meta.url);

/** The version in node_modules/<name>/package.json (some of these packages do not export their package.json). */
function installedVersion(name: string): string {
  const file = join(REPO_ROOT, 'node_modules', name, 'package.json');
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

test('the interop tests run against the Module Federation stack they were written for', () => {
  const webpack = installedVersion('webpack');
  assert.match(
    webpack,
    /^5\.111\./,
    `webpack ${webpack}: @module-federation/node 2.7.52 needs 5.111 (5.112 moved webpack/lib/util/extractUrlAndGlobal)`,
  );
  assert.equal(installedVersion('@module-federation/node'), '2.7.52');
  for (const name of ['@module-federation/enhanced', '@module-federation/runtime', '@module-federation/sdk']) {
    assert.equal(installedVersion(name), '2.9.2', name);
  }
  assert.equal(installedVersion('@rspack/core'), '2.3.4');
  // @module-federation/node requires webpack's internal util the 5.112 release moved.
  assert.doesNotThrow(() => require.resolve('webpack/lib/util/extractUrlAndGlobal'));
});
