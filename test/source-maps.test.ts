/**
 * Stack traces through remote code (src/runtime/evaluate/source-maps.ts): a bundle's verified source map is kept as
 * bytes when the bundle loads and parsed only when a stack trace first passes through the bundle (issue 21: a parse at
 * every load and every live update cost CPU and heap for maps most code never needs). A valid map gives the
 * remote's source positions; one that cannot be read leaves the code running, its frames at bundle positions, and is
 * reported once (`FERRY_SOURCE_MAP`, naming the map and the fix) after the trace that needed it — never at load,
 * never from inside the trace's formatting. Remotes are hand-built, signed and served on loopback.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHost, type FerryWarning } from '../src/index.ts';
import { createTempProject } from './helpers/temp-project.ts';
import { createSignedRemote } from './helpers/trust-fixture.ts';
import { waitFor } from './helpers/wait-for.ts';

// Line 1 of every expose is the fixture's canary; line 2 throws at column 24.
const THROWING = 'exports.fail = () => { throw new Error("boom from the remote"); };\n';
// Generated line 1 → src/x.ts line 1; generated line 2, column 0 → src/x.ts line 10, column 1 (`S` is +9).
const MAP = JSON.stringify({ version: 3, sources: ['src/x.ts'], names: [], mappings: 'AAAA;AASA' });

function stackOf(fail: () => void): string {
  try {
    fail();
  } catch (error) {
    return String((error as Error).stack);
  }
  assert.fail('the remote function did not throw');
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/**
 * A signed remote whose expose `./x` throws from line 2, with `map` as its source map, and a host of it (its own
 * cache folder) that collects its warnings; disposing closes the host, the remote and the folder.
 */
async function throwingRemote(map: string) {
  const remote = await createSignedRemote();
  const cache = await createTempProject({});
  await remote.publish({ exposes: { './x': { code: `${remote.canary}${THROWING}`, map } } });
  const warnings: FerryWarning[] = [];
  const host = createHost({
    name: 'h',
    remotes: { authService: { url: remote.manifestUrl, publicKey: remote.publicKey } },
    cache: { dir: cache.dir },
    onWarning: (warning) => warnings.push(warning),
  });
  return {
    warnings,
    fail: async () => (await host.import<{ fail(): void }>('authService/x')).fail,
    async [Symbol.asyncDispose]() {
      await host.close();
      await remote[Symbol.asyncDispose]();
      await cache[Symbol.asyncDispose]();
    },
  };
}

test("a valid source map maps a remote frame to the remote's source file and line", async () => {
  await using fixture = await throwingRemote(MAP);
  const stack = stackOf(await fixture.fail());
  assert.match(stack, /ferry:\/\/authService@1\.0\.0\/src\/x\.ts:10:1/);
  await nextTurn();
  assert.deepEqual(fixture.warnings, [], stack);
});

for (const [what, map] of [
  ['not JSON', '{"version": 3, "mappings": '],
  ['JSON of the wrong shape', '{"version": 3, "sources": 7, "mappings": 12}'],
] as const) {
  test(`a source map that is ${what} is reported once, when a stack trace first needs it; the code still runs`, async () => {
    await using fixture = await throwingRemote(map);
    const { warnings } = fixture;
    const fail = await fixture.fail();
    await nextTurn();
    assert.equal(warnings.length, 0, 'nothing is reported at load: the map has not been read yet');
    const first = stackOf(fail);
    assert.match(first, /boom from the remote/);
    // The bundle's own position: line 2, where the throw is.
    assert.match(first, /ferry:\/\/authService@1\.0\.0\/x\.[A-Za-z0-9]+\.js:2:\d+/);
    assert.doesNotMatch(first, /src\/x\.ts/);
    assert.equal(warnings.length, 0, 'not reported from inside the stack trace');
    await nextTurn();
    assert.equal(warnings.length, 1, JSON.stringify(warnings));
    assert.equal(warnings[0]!.code, 'FERRY_SOURCE_MAP');
    assert.match(warnings[0]!.message, /The source map x\.[A-Za-z0-9]+\.js\.map of remote "authService" could not/);
    assert.match(warnings[0]!.message, /Rebuild the remote with `ferry build`/);
    // Once: the next trace through the bundle neither parses the map again nor reports it again.
    assert.match(stackOf(fail), /x\.[A-Za-z0-9]+\.js:2:\d+/);
    await nextTurn();
    assert.equal(warnings.length, 1);
  });
}

test('a module is not run before its source map is verified (the map arriving last), and a changed map runs nothing', async () => {
  // An ES module expose (loaded without the container): compiled as soon as its own file is verified, run only once
  // every file of the load, its map included, is verified and on disk.
  await using remote = await createSignedRemote();
  await using cache = await createTempProject({});
  await remote.publish({
    format: 'esm',
    exposes: { './x': { code: `${remote.canary}return __ferryNamespace({});\n`, map: MAP } },
  });
  const mapName = [...(await remote.files()).keys()].find((name) => name.endsWith('.js.map'))!;
  const load = async (answer: (res: import('node:http').ServerResponse) => void) => {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let asked = false;
    remote.server.override = async (req, res) => {
      if (!req.url?.endsWith(`/${mapName}`)) return false;
      asked = true;
      await held;
      answer(res);
      return true;
    };
    remote.resetRuns();
    const host = createHost({
      name: 'h',
      remotes: { authService: { url: remote.manifestUrl, publicKey: remote.publicKey } },
      cache: { dir: cache.dir },
      onWarning: () => {},
    });
    const imported = host.import('authService/x').then(
      () => undefined,
      (error: unknown) => error,
    );
    await waitFor(() => asked, 'the map requested');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const ranBeforeTheMap = remote.runs();
    release();
    const error = await imported;
    await host.close();
    return { ranBeforeTheMap, error, runs: remote.runs() };
  };

  const changed = await load((res) => res.writeHead(200).end(Buffer.from(MAP.replace('AASA', 'AAUA'))));
  assert.equal(changed.ranBeforeTheMap, 0, 'nothing ran while the map was on its way');
  assert.equal((changed.error as { code?: string } | undefined)?.code, 'ERR_FERRY_INTEGRITY', String(changed.error));
  assert.equal(changed.runs, 0, 'a changed map: the module never ran');

  const intact = await load((res) => res.writeHead(200).end(Buffer.from(MAP)));
  assert.equal(intact.ranBeforeTheMap, 0, 'nothing ran while the map was on its way');
  assert.equal(intact.error, undefined);
  assert.equal(intact.runs, 1, 'the module ran once its map was verified');
});
