/**
 * Releases that no later build could exceed are refused: hosts never accept a lower release than one they accepted,
 * so a signed release of 2^53−1 would lock them out of every later build. The parser refuses one above MAX_RELEASE
 * (before a host records it as its floor); the build config's `release` check is in build-config.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidManifestError } from '../src/common/errors.ts';
import { MAX_RELEASE, parseManifest } from '../src/manifest/index.ts';
import { HASHED_FILE, HASHED_MAP, manifestFor } from './helpers/server-fixture.ts';

function withRelease(release: number): string {
  const manifest = manifestFor({
    'remoteEntry.js': 'exports.get = () => {};\n',
    [HASHED_FILE]: '',
    [HASHED_MAP]: '{}',
  });
  manifest.ferry.release = release;
  return JSON.stringify(manifest);
}

test('the parser accepts releases up to MAX_RELEASE, which leaves room below 2^53−1', () => {
  assert.ok(MAX_RELEASE * 8 < Number.MAX_SAFE_INTEGER);
  assert.ok(MAX_RELEASE > Date.UTC(3000, 0), 'millisecond timestamps (the default release) fit for a long time');
  for (const release of [0, 1, Date.now(), MAX_RELEASE]) {
    assert.equal(parseManifest(withRelease(release), 'test').ferry.release, release);
  }
});

test('the parser refuses a release above MAX_RELEASE, naming the value and the maximum', () => {
  for (const release of [MAX_RELEASE + 1, Date.now() * 1000, Number.MAX_SAFE_INTEGER]) {
    assert.throws(
      () => parseManifest(withRelease(release), 'http://127.0.0.1:1/mf-manifest.json'),
      (error: unknown) => {
        assert.ok(error instanceof InvalidManifestError);
        assert.equal(error.code, 'ERR_FERRY_INVALID_MANIFEST');
        assert.ok(error.message.includes(`ferry.release is ${release}`), error.message);
        assert.ok(error.message.includes(`(${MAX_RELEASE})`), error.message);
        assert.ok(error.message.includes('http://127.0.0.1:1/mf-manifest.json'), error.message);
        return true;
      },
    );
  }
});
