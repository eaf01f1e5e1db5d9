/**
 * The whole path with real pieces: `ferry build` (the CLI, spawned) bundles a TypeScript remote, the ferry server
 * serves its output on a loopback port, and hosts (in this process and in a child process that has no node_modules)
 * load its modules over HTTP.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { createHost, EvaluationError } from '../src/index.ts';
import { createFerryServer, type FerryServer } from '../src/server/index.ts';
import { CONFIG_TS, createRemoteProject, runFerry, runProcess } from './helpers/build-fixture.ts';
import { createTempProject, REPO_ROOT, type TempProject } from './helpers/temp-project.ts';

const CONFIG = CONFIG_TS.replace("'./other': { import: './src/other.ts' },", "'./lifetimes': './src/lifetimes.ts',");

describe('build, serve, load', () => {
  let remote: TempProject;
  let server: FerryServer;
  before(async () => {
    remote = await createRemoteProject({
      'ferry.config.ts': CONFIG,
      'src/lifetimes.ts': "export { lifetime } from './helper.ts';\n",
    });
    const built = await runFerry(['build'], { cwd: remote.dir });
    assert.equal(built.code, 0, built.stderr);
    server = await createFerryServer({ dir: remote.path('dist/federation'), port: 0 });
  });
  after(async () => {
    await server?.close();
    await remote?.remove();
  });

  test('a host loads the built TypeScript module; shared packages come from the host', async () => {
    const host = createHost({
      name: 'userService',
      remotes: { authService: `${server.url}mf-manifest.json` },
      shared: { jsonwebtoken: { singleton: true } },
      root: REPO_ROOT,
      onWarning: () => {},
    });
    const validator = await host.import<{ validate(token: string, secret: string): unknown; maxAge: number }>(
      'authService/tokenValidator',
    );
    assert.equal(validator.maxAge, 86_400_000);
    const { default: jwt } = await import('jsonwebtoken');
    const token = jwt.sign({ sub: 'alice' }, 'secret');
    assert.equal((validator.validate(token, 'secret') as { sub: string }).sub, 'alice');
    assert.throws(
      () => validator.validate(token, 'wrong'),
      (e: Error) => e instanceof jwt.JsonWebTokenError,
    );
    await host.close();
  });

  test('an error thrown in remote code has a stack that names the original TypeScript file and line', async () => {
    const host = createHost({
      name: 'h',
      remotes: { authService: `${server.url}mf-manifest.json` },
      onWarning: () => {},
    });
    const { lifetime } = await host.import<{ lifetime(text: string): number }>('authService/lifetimes');
    assert.equal(lifetime('2h'), 7_200_000);
    const error = (() => {
      try {
        lifetime('');
      } catch (e) {
        return e as Error;
      }
    })();
    assert.equal(error?.message, 'empty lifetime');
    // helper.ts line 4: `  if (text === "") throw new Error("empty lifetime");` — `new` is at column 26.
    assert.match(String(error?.stack), /ferry:\/\/authService@1\.2\.0\/src\/helper\.ts:4:26/);
    await host.close();
  });

  test('an error thrown while a module evaluates names the remote and keeps a mapped cause', async () => {
    const broken = await createRemoteProject({
      'ferry.config.ts': CONFIG,
      'src/lifetimes.ts': "import { lifetime } from './helper.ts';\nexport const bad = lifetime('');\n",
    });
    try {
      const built = await runFerry(['build'], { cwd: broken.dir });
      assert.equal(built.code, 0, built.stderr);
      const brokenServer = await createFerryServer({ dir: broken.path('dist/federation'), port: 0 });
      try {
        const host = createHost({
          name: 'h',
          remotes: { authService: `${brokenServer.url}mf-manifest.json` },
          onWarning: () => {},
        });
        const error = await host.import('authService/lifetimes').catch((e: unknown) => e);
        assert.ok(error instanceof EvaluationError, String(error));
        assert.match(error.message, /authService.*empty lifetime/);
        assert.match(String((error.cause as Error).stack), /src\/helper\.ts:4:26/);
        assert.match(String((error.cause as Error).stack), /src\/lifetimes\.ts:2:\d+/);
      } finally {
        await brokenServer.close();
      }
    } finally {
      await broken.remove();
    }
  });

  test("a host without the remote's npm dependencies installed still uses the module (child process)", async () => {
    const hostProject: TempProject = await createTempProject({
      'host.mjs': `
        import { createRequire } from 'node:module';
        import { createHost } from ${JSON.stringify(pathToFileURL(`${REPO_ROOT}dist/index.js`).href)};
        let hasMs = true;
        try { createRequire(import.meta.url)('ms'); } catch (error) { hasMs = error.code; }
        const host = createHost({ name: 'h', remotes: { authService: process.argv[2] }, onWarning: () => {} });
        const { lifetime } = await host.import('authService/lifetimes');
        console.log(JSON.stringify({ hasMs, twoHours: lifetime('2h') }));
      `,
    });
    try {
      const run = await runProcess(process.execPath, ['host.mjs', `${server.url}mf-manifest.json`], {
        cwd: hostProject.dir,
      });
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(JSON.parse(run.stdout), { hasMs: 'MODULE_NOT_FOUND', twoHours: 7_200_000 });
    } finally {
      await hostProject.remove();
    }
  });
});
