/**
 * Property tests (fast-check): flipping a bit of, inserting a byte into, or deleting a byte from the manifest, its
 * signature file or any file of a signed remote makes `host.import` fail with a typed FerryError, and no remote code
 * runs (the container and the expose both count their runs). Unsigned hosts refuse any change to a file the same way.
 *
 * The seed is random per run and printed on failure; reproduce with FERRY_FC_SEED=<seed>.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { createHost, FerryError } from '../src/index.ts';
import { createTempProject, type TempProject } from './helpers/temp-project.ts';
import { createSignedRemote, quiet, type SignedRemote } from './helpers/trust-fixture.ts';

const SEED = process.env['FERRY_FC_SEED'] === undefined ? Date.now() % 2 ** 31 : Number(process.env['FERRY_FC_SEED']);
const NUM_RUNS = 200;

interface Mutation {
  target: string;
  kind: 'flip' | 'insert' | 'delete';
  position: number;
  bit: number;
  byte: number;
}

function mutate(bytes: Buffer, m: Mutation): Buffer {
  if (m.kind === 'flip') {
    const copy = Buffer.from(bytes);
    const at = m.position % copy.byteLength;
    copy[at] = copy[at]! ^ (1 << m.bit);
    return copy;
  }
  if (m.kind === 'insert') {
    const at = m.position % (bytes.byteLength + 1);
    return Buffer.concat([bytes.subarray(0, at), Buffer.from([m.byte]), bytes.subarray(at)]);
  }
  const at = m.position % bytes.byteLength;
  return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)]);
}

function mutations(targets: string[]): fc.Arbitrary<Mutation> {
  return fc.record({
    target: fc.constantFrom(...targets),
    kind: fc.constantFrom('flip' as const, 'insert' as const, 'delete' as const),
    position: fc.nat({ max: 1 << 20 }),
    bit: fc.integer({ min: 0, max: 7 }),
    byte: fc.integer({ min: 0, max: 255 }),
  });
}

/** Runs the property; on failure the error says how to replay it. */
async function check(property: fc.IAsyncPropertyWithHooks<[Mutation]>): Promise<void> {
  try {
    await fc.assert(property, { seed: SEED, numRuns: NUM_RUNS });
  } catch (error) {
    throw new Error(
      `property failed with seed ${SEED}; replay with FERRY_FC_SEED=${SEED}\n${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}

describe('any changed byte is refused and never run', () => {
  let remote: SignedRemote;
  let cache: TempProject;
  let original: Map<string, Buffer>;

  before(async () => {
    remote = await createSignedRemote();
    await remote.publish({
      exposes: {
        './x': {
          code: `${remote.canary}exports.answer = 42;\n`,
          map: JSON.stringify({ version: 3, sources: ['src/x.ts'], names: [], mappings: 'AAAA' }),
        },
      },
    });
    cache = await createTempProject({});
    original = await remote.files();
    assert.deepEqual(original.size, 5, 'manifest, signature, container, expose and its map');
    // The control: unchanged, it loads and runs (container and expose).
    await using host = createHost({
      name: 'h',
      remotes: { authService: { url: remote.manifestUrl, publicKey: remote.publicKey } },
      cache: { dir: cache.dir },
      ...quiet,
    });
    assert.equal((await host.import<{ answer: number }>('authService/x')).answer, 42);
    assert.equal(remote.runs(), 2);
    remote.resetRuns();
  });
  after(async () => {
    await remote[Symbol.asyncDispose]();
    await cache.remove();
  });

  function serveMutated(m: Mutation): Buffer {
    remote.resetRuns();
    const changed = mutate(original.get(m.target)!, m);
    remote.server.override = (req, res) => {
      if (new URL(req.url ?? '/', 'http://x').pathname !== `/${m.target}`) return false;
      res.writeHead(200, { 'content-length': changed.byteLength });
      res.end(changed);
      return true;
    };
    return changed;
  }

  test('signed host: manifest, signature and every file', async (t) => {
    t.diagnostic(`seed ${SEED}`);
    const expected: Record<string, string[]> = Object.fromEntries(
      [...original.keys()].map((name) => [
        name,
        name.startsWith('mf-manifest.json')
          ? ['ERR_FERRY_SIGNATURE']
          : ['ERR_FERRY_INTEGRITY', 'ERR_FERRY_RESPONSE_TOO_LARGE'],
      ]),
    );
    await check(
      fc.asyncProperty(mutations([...original.keys()]), async (m) => {
        serveMutated(m);
        await using host = createHost({
          name: 'h',
          remotes: { authService: { url: remote.manifestUrl, publicKey: remote.publicKey } },
          cache: { dir: cache.dir },
          ...quiet,
        });
        const error = await host.import('authService/x').then(
          () => undefined,
          (e: unknown) => e,
        );
        assert.ok(error instanceof FerryError, `accepted or untyped: ${String(error)}`);
        assert.ok(expected[m.target]!.includes(error.code), `${m.target}: ${error.code} ${error.message}`);
        assert.equal(remote.runs(), 0, 'remote code ran');
      }),
    );
  });

  test('unsigned host: every file', async (t) => {
    t.diagnostic(`seed ${SEED}`);
    const files = [...original.keys()].filter((name) => !name.startsWith('mf-manifest.json'));
    await check(
      fc.asyncProperty(mutations(files), async (m) => {
        serveMutated(m);
        await using host = createHost({
          name: 'h',
          remotes: { authService: remote.manifestUrl },
          cache: { dir: cache.dir },
          ...quiet,
        });
        const error = await host.import('authService/x').then(
          () => undefined,
          (e: unknown) => e,
        );
        assert.ok(error instanceof FerryError, `accepted or untyped: ${String(error)}`);
        assert.ok(['ERR_FERRY_INTEGRITY', 'ERR_FERRY_RESPONSE_TOO_LARGE'].includes(error.code), error.message);
        assert.equal(remote.runs(), 0, 'remote code ran');
      }),
    );
  });
});
