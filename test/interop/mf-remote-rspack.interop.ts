/**
 * A ferry host loads Module Federation remotes built by rspack (2.3, @module-federation/enhanced's rspack plugin,
 * `library: { type: 'commonjs-module' }`, `manifest: true`, `publicPath: 'auto'`): `target: 'node'` (its chunks are
 * `require`d: served from ferry's verified files) and `target: 'async-node'` (its chunks are read with `fs.readFile`
 * next to the container: served by the container's `fs` from ferry's verified bytes). Both pinned by the lock; a
 * tampered chunk of either is refused and never runs. Real builds (once, in `before`), real loopback servers.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createHost } from '../../src/index.ts';
import { emptyLock, writeLock } from '../../src/runtime/mf/lock-file.ts';
import { lockRemote } from '../../src/runtime/mf/lock-remote.ts';
import { resolveHostOptions } from '../../src/runtime/options/host-options.ts';
import { startLoopback } from '../helpers/loopback.ts';
import { buildRspackRemote, createAuthProject } from '../helpers/mf-builds.ts';
import { REPO_ROOT, type TempProject } from '../helpers/temp-project.ts';

const require = createRequire(join(REPO_ROOT, 'package.json'));
const jwt = require('jsonwebtoken') as { sign(payload: object, secret: string): string };
const CANARY = '__ferryRspackCanaryRan';

let project: TempProject;
let work: string;
const builds: Record<'node' | 'async-node', string> = { node: '', 'async-node': '' };

before(async () => {
  project = await createAuthProject();
  work = await mkdtemp(join(tmpdir(), 'ferry-mf-rspack-'));
  builds.node = await buildRspackRemote(project, 'node', { out: 'dist/node' });
  builds['async-node'] = await buildRspackRemote(project, 'async-node', { out: 'dist/async-node' });
});

after(async () => {
  await project?.remove();
  if (work) await rm(work, { recursive: true, force: true });
});

type Validator = { validateJwtToken(token: string): Promise<{ isValid: boolean; user?: { username: string } }> };

for (const target of ['node', 'async-node'] as const) {
  test(`rspack ${target} (commonjs-module container): loads pinned through ferry, shared packages from the one scope, a tampered chunk is refused and never runs`, async (t) => {
    await using server = await startLoopback(builds[target]);
    const url = `${server.url}mf-manifest.json`;
    const folder = await mkdtemp(join(work, `${target}-`));
    const options = {
      name: 'userService',
      root: REPO_ROOT,
      lockFile: join(folder, 'ferry.lock'),
      cache: { dir: join(folder, 'cache') },
      remotes: { authServiceRemote: { url, type: 'module-federation' as const } },
      shared: { jsonwebtoken: { singleton: true }, dotenv: { singleton: true } },
      live: { pollInterval: false as const, push: false },
      onWarning: () => {},
    };
    const lock = emptyLock();
    lock.remotes[url] = await lockRemote(resolveHostOptions(options).remotes[0]!, { maxManifestBytes: 1 << 20 });
    await writeLock(options.lockFile, lock);
    const host = createHost(options);
    t.after(() => host.close());
    const { validateJwtToken } = await host.import<Validator>('authServiceRemote/tokenValidator');
    const token = jwt.sign({ sub: '1', username: 'alice' }, 'supersecretkey');
    assert.equal((await validateJwtToken(token)).user?.username, 'alice');
    // The container took the host's singletons from the scope it was given; its own copies are only providers.
    const jsonwebtoken = host.shared().default!.jsonwebtoken!;
    assert.deepEqual(
      jsonwebtoken.provided.filter((p) => p.loaded).map((p) => `${p.version} from ${p.from}`),
      ['9.0.3 from userService'],
    );
    // A second host, same lock, tampered chunk (same length): refused before it runs.
    const chunk = lock.remotes[url]!.exposes['./tokenValidator']![0]!;
    const original = await readFile(join(builds[target], chunk), 'utf8');
    const tampered = `globalThis.${CANARY}=1;`.padEnd(48, ' ') + original.slice(48);
    server.override = (req, res) => {
      if (req.url !== `/${chunk}`) return false;
      res.end(tampered);
      return true;
    };
    const second = createHost({ ...options, cache: { dir: join(folder, 'cache-2') } });
    t.after(() => second.close());
    await assert.rejects(second.import('authServiceRemote/tokenValidator'), { code: 'ERR_FERRY_INTEGRITY' });
    assert.equal((globalThis as Record<string, unknown>)[CANARY], undefined, 'the tampered chunk never ran');
  });
}
