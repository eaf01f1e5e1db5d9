/**
 * Module Federation hosts load a ferry remote: `@module-federation/runtime` (createInstance + loadRemote) by the
 * remote's remoteEntry.js URL and by its mf-manifest.json URL, each host in its own process, the remote built with
 * `ferry build` and served by ferry's own server on a loopback port. Also: singletons are one instance across host
 * and remote, a host without jsonwebtoken gets the remote's copy, and tampered files are refused unrun.
 */
import assert from 'node:assert/strict';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import jwt from 'jsonwebtoken';
import { buildRemote } from '../../src/build/index.ts';
import type { Manifest } from '../../src/manifest/index.ts';
import { createFerryServer, type FerryServer } from '../../src/server/index.ts';
import { writeHandBuilt } from '../../src/testing/hand-built.ts';
import { runMfHost } from '../helpers/mf-host.ts';
import { createTempProject, type TempProject } from '../helpers/temp-project.ts';

const SECRET = 'mf-host-interop-secret';

/** The remote: an ESM expose with top-level await, a CommonJS one, a chunk both import, a lazy chunk. */
const REMOTE_FILES: Record<string, string> = {
  'package.json': JSON.stringify({ name: 'auth-service', version: '1.4.0', type: 'module' }),
  'ferry.config.ts': `export default {
  name: 'authService',
  exposes: {
    './validator': './src/validator.ts',
    './legacy': './src/legacy.cjs',
    './counter': './src/counter.ts',
    './decoder': './src/decoder.ts',
  },
  shared: { jsonwebtoken: { singleton: true, requiredVersion: '^9.0.0' } },
};
`,
  'src/record.ts': `// Records that a module of the remote ran, so tests can tell that refused code never did.
export function record(what: string): void {
  const ran = ((globalThis as Record<string, unknown>).__ferryRan ??= []) as string[];
  ran.push(what);
}
export const RECORDED = 'record';
`,
  'src/validator.ts': `import jwt from 'jsonwebtoken';
import { record } from './record.ts';
record('validator');
const settings = await Promise.resolve({ algorithms: ['HS256' as const] });
export function validate(token: string, secret: string): { isValid: boolean; sub?: string; error?: string } {
  try {
    const claims = jwt.verify(token, secret, settings) as { sub: string };
    return { isValid: true, sub: claims.sub };
  } catch (error) {
    return { isValid: false, error: (error as Error).message };
  }
}
export async function lazyAnswer(): Promise<number> {
  return (await import('./lazy.ts')).answer;
}
export const jwtModule = jwt;
export const metaUrl = import.meta.url;
`,
  'src/lazy.ts': `import { record } from './record.ts';
record('lazy');
export const answer = 42;
`,
  'src/counter.ts': `import { record } from './record.ts';
record('counter');
let count = 0;
export function next(): number { return ++count; }
`,
  'src/decoder.ts': `import decode from 'jsonwebtoken/decode';
export const subjectOf = (token: string): unknown => (decode(token) as { sub?: unknown } | null)?.sub;
`,
  'src/legacy.cjs': `module.exports = { kind: 'commonjs', add: (a, b) => a + b };
`,
};

let project: TempProject;
let server: FerryServer;
let manifest: Manifest;

before(async () => {
  project = await createTempProject(REMOTE_FILES, { link: ['jsonwebtoken'] });
  manifest = (await buildRemote({ root: project.dir, outDir: 'dist' })).manifest;
  server = await createFerryServer({ dir: project.path('dist'), port: 0 });
});

after(async () => {
  await server?.close();
  await project?.remove();
});

/** A host script that loads the ferry remote with @module-federation/runtime and reports what it saw. */
function runtimeHost(entry: string, shared: string, body: string): string {
  return `
import { createRequire } from 'node:module';
import { createInstance } from '@module-federation/runtime';
const require = createRequire(import.meta.url);
const mf = createInstance({
  name: 'mfHost',
  remotes: [{ name: 'authService', entry: ${JSON.stringify(entry)} }],
  shared: ${shared},
});
try {
${body}
} catch (error) {
  report({ error: describe(error), ran: globalThis.__ferryRan ?? [] });
}
`;
}

const JWT_SHARED = `{
  jsonwebtoken: { version: require('jsonwebtoken/package.json').version, lib: () => require('jsonwebtoken'),
    shareConfig: { singleton: true, requiredVersion: '^9.0.0' } },
}`;

const CALL_EXPOSES = `
  const validator = await mf.loadRemote('authService/validator');
  const legacy = await mf.loadRemote('authService/legacy');
  const token = process.env.TOKEN;
  report({
    valid: validator.validate(token, process.env.SECRET),
    invalid: validator.validate(token, 'another secret'),
    lazy: await validator.lazyAnswer(),
    metaUrl: validator.metaUrl,
    legacy: { kind: legacy.kind, sum: legacy.add(2, 3) },
    sameJwt: validator.jwtModule === require('jsonwebtoken'),
    ran: globalThis.__ferryRan,
  });
`;

for (const [by, file] of [
  ['remoteEntry.js URL', 'remoteEntry.js'],
  ['mf-manifest.json URL', 'mf-manifest.json'],
] as const) {
  test(`an @module-federation/runtime host loads a ferry remote by its ${by} and calls its exposes (ESM with top-level await, CommonJS, a lazy chunk)`, async () => {
    const token = jwt.sign({ sub: 'ada' }, SECRET);
    const run = await runMfHost(runtimeHost(`${server.url}${file}`, JWT_SHARED, CALL_EXPOSES), {
      link: ['@module-federation/runtime', 'jsonwebtoken'],
      env: { TOKEN: token, SECRET },
    });
    assert.equal(run.code, 0, run.stderr);
    const result = run.result!;
    assert.equal(result['error'], undefined, JSON.stringify(result['error']));
    assert.deepEqual(result['valid'], { isValid: true, sub: 'ada' });
    assert.deepEqual(result['invalid'], { isValid: false, error: 'invalid signature' });
    assert.equal(result['lazy'], 42);
    assert.deepEqual(result['legacy'], { kind: 'commonjs', sum: 5 });
    // The remote's code ran once per module, the record chunk shared by the validator and the lazy chunk.
    assert.deepEqual(result['ran'], ['validator', 'lazy']);
    assert.equal(result['metaUrl'], `${server.url}src/validator.ts`);
    assert.equal(result['sameJwt'], true);
  });
}

test('a shared singleton is one instance across an @module-federation/runtime host and the ferry remote', async () => {
  // The host provides jsonwebtoken without loading it (`get`); the remote takes it first, then the host loads it.
  const shared = `{
  jsonwebtoken: { version: require('jsonwebtoken/package.json').version,
    get: () => Promise.resolve(() => require('jsonwebtoken')),
    shareConfig: { singleton: true, requiredVersion: '^9.0.0' } },
}`;
  const run = await runMfHost(
    runtimeHost(
      `${server.url}remoteEntry.js`,
      shared,
      `
  const validator = await mf.loadRemote('authService/validator');
  const hostFactory = await mf.loadShare('jsonwebtoken');
  const entries = mf.shareScopeMap.default.jsonwebtoken;
  const version = require('jsonwebtoken/package.json').version;
  report({
    versions: Object.keys(entries),
    from: entries[version].from,
    loaded: entries[version].loaded,
    useIn: entries[version].useIn,
    sameAsHostShare: validator.jwtModule === hostFactory(),
    sameAsHostRequire: validator.jwtModule === require('jsonwebtoken'),
  });
`,
    ),
    { link: ['@module-federation/runtime', 'jsonwebtoken'] },
  );
  assert.equal(run.code, 0, run.stderr);
  const result = run.result!;
  assert.equal(result['error'], undefined, JSON.stringify(result['error']));
  // The remote registered its own copy of the same version; MF's rule (a provider's name orders equal versions)
  // kept the host's, and the remote took it: one instance, marked loaded, used by the remote.
  assert.deepEqual(result['versions'], [manifest.ferry.shared['jsonwebtoken']!.version]);
  assert.equal(result['from'], 'mfHost');
  assert.equal(result['loaded'], true);
  assert.ok((result['useIn'] as string[]).includes('authService'), JSON.stringify(result['useIn']));
  assert.equal(result['sameAsHostShare'], true);
  assert.equal(result['sameAsHostRequire'], true);
});

test("an @module-federation/runtime host without jsonwebtoken installed gets the ferry remote's own copy from the share scope", async () => {
  const token = jwt.sign({ sub: 'grace' }, SECRET);
  const run = await runMfHost(
    runtimeHost(
      `${server.url}remoteEntry.js`,
      '{}',
      `
  let resolvable = true;
  try { require.resolve('jsonwebtoken'); } catch { resolvable = false; }
  const validator = await mf.loadRemote('authService/validator');
  const versions = mf.shareScopeMap.default.jsonwebtoken;
  const [version] = Object.keys(versions);
  report({
    resolvable,
    valid: validator.validate(process.env.TOKEN, process.env.SECRET),
    from: versions[version].from,
    version,
    loaded: versions[version].loaded,
    signs: typeof validator.jwtModule.sign,
  });
`,
    ),
    { link: ['@module-federation/runtime'], env: { TOKEN: token, SECRET } },
  );
  assert.equal(run.code, 0, run.stderr);
  const result = run.result!;
  assert.equal(result['error'], undefined, JSON.stringify(result['error']));
  assert.equal(result['resolvable'], false, 'the host process must not be able to resolve jsonwebtoken');
  assert.deepEqual(result['valid'], { isValid: true, sub: 'grace' });
  assert.equal(result['from'], 'authService');
  assert.equal(result['version'], manifest.ferry.shared['jsonwebtoken']!.version);
  assert.equal(result['loaded'], true);
  assert.equal(result['signs'], 'function');
});

/**
 * Serves a copy of the build whose file `name` got `prefix` prepended after the build (manifest untouched), or was
 * removed (`prefix` undefined).
 */
async function tamperedCopy(
  name: string,
  prefix: string | undefined,
): Promise<{ url: string; close(): Promise<void> }> {
  const copy = await createTempProject({});
  await cp(project.path('dist'), copy.path('dist'), { recursive: true });
  const file = copy.path('dist', name);
  if (prefix === undefined) await rm(file);
  else await writeFile(file, prefix + (await readFile(file, 'utf8')));
  const copyServer = await createFerryServer({ dir: copy.path('dist'), port: 0 });
  return {
    url: copyServer.url,
    close: async () => {
      await copyServer.close();
      await copy.remove();
    },
  };
}

const CANARY = 'globalThis.__ferryTampered = (globalThis.__ferryTampered ?? 0) + 1;\n';

const LOAD_AND_REPORT = (expose: string) => `
  await mf.loadRemote('authService/${expose}');
  report({ loaded: true, tampered: globalThis.__ferryTampered, ran: globalThis.__ferryRan ?? [] });
`;

/** A host (with or without jsonwebtoken) that loads `expose` from `base` and reports the error, the canary, what ran. */
function refusalHost(base: string, expose: string, shared: string): string {
  return `${runtimeHost(`${base}remoteEntry.js`, shared, LOAD_AND_REPORT(expose))}
report({ tampered: globalThis.__ferryTampered ?? 0, ran: globalThis.__ferryRan ?? [], error: globalThis.__lastError });`.replace(
    'report({ error: describe(error), ran: globalThis.__ferryRan ?? [] });',
    'globalThis.__lastError = describe(error);',
  );
}

test('an @module-federation/runtime host loading a ferry remote refuses a tampered expose bundle: the canary never ran', async () => {
  const bundle = manifest.ferry.exposes['./validator']!.file;
  const copy = await tamperedCopy(bundle, CANARY);
  try {
    const run = await runMfHost(refusalHost(copy.url, 'validator', JWT_SHARED), {
      link: ['@module-federation/runtime', 'jsonwebtoken'],
    });
    assert.equal(run.code, 0, run.stderr);
    const result = run.result!;
    assert.equal(result['tampered'], 0, 'the tampered bundle must never run');
    assert.deepEqual(result['ran'], [], 'nothing of the expose ran');
    const error = result['error'] as { code?: string; message: string };
    assert.ok(error, 'loadRemote must fail');
    assert.equal(error.code, 'ERR_FERRY_INTEGRITY', JSON.stringify(error));
    assert.match(error.message, new RegExp(`file ${bundle.replaceAll('.', '\\.')} of ferry remote "authService"`));
    const expected = manifest.ferry.files[bundle]!.integrity;
    assert.ok(error.message.includes(expected), `the message names the expected integrity: ${error.message}`);
    assert.match(error.message, /got \d+ bytes, sha384-/);
  } finally {
    await copy.close();
  }
});

test('an @module-federation/runtime host loading a ferry remote refuses a tampered chunk of an expose', async () => {
  const [chunk] = manifest.ferry.exposes['./counter']!.chunks ?? [];
  assert.ok(chunk, 'the counter expose imports the record chunk statically');
  const copy = await tamperedCopy(chunk, CANARY);
  try {
    const run = await runMfHost(refusalHost(copy.url, 'counter', JWT_SHARED), {
      link: ['@module-federation/runtime', 'jsonwebtoken'],
    });
    assert.equal(run.code, 0, run.stderr);
    const result = run.result!;
    assert.equal(result['tampered'], 0, 'the tampered chunk must never run');
    assert.deepEqual(result['ran'], []);
    const error = result['error'] as { code?: string; message: string };
    assert.equal(error?.code, 'ERR_FERRY_INTEGRITY', JSON.stringify(error));
    assert.ok(error.message.includes(chunk), error.message);
  } finally {
    await copy.close();
  }
});

test('the container works under plain require() from its build folder, reading its files from disk, and refuses what it cannot serve', async () => {
  const token = jwt.sign({ sub: 'alan' }, SECRET);
  const run = await runMfHost(
    `
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import vm from 'node:vm';
const require = createRequire(import.meta.url);
const container = require(process.env.ENTRY_FILE);
await container.init({});
const validator = (await container.get('./validator'))();
let missing;
try { await container.get('./missing'); } catch (error) { missing = describe(error); }
let secondScope;
try { await container.init({}); } catch (error) { secondScope = describe(error); }
// The same entry run as MF's Node loader runs it (a base name as __filename), with no MF instance listing it.
const source = readFileSync(process.env.ENTRY_FILE, 'utf8');
const context = { exports: {}, module: { exports: {} } };
vm.runInThisContext('(function (exports, module, require, __dirname, __filename) {' + source + '\\n})')(
  context.exports, context.module, require, '/', 'remoteEntry.js');
let noUrl;
try {
  await context.module.exports.init({});
  await context.module.exports.get('./validator');
} catch (error) { noUrl = describe(error); }
report({ valid: validator.validate(process.env.TOKEN, process.env.SECRET), metaUrl: validator.metaUrl, missing, secondScope, noUrl });
`,
    { link: [], env: { ENTRY_FILE: project.path('dist', 'remoteEntry.js'), TOKEN: token, SECRET } },
  );
  assert.equal(run.code, 0, run.stderr);
  const result = run.result!;
  assert.deepEqual(result['valid'], { isValid: true, sub: 'alan' });
  assert.equal(result['metaUrl'], pathToFileURL(project.path('dist', 'src', 'validator.ts')).href);
  const missing = result['missing'] as { code: string; message: string };
  assert.equal(missing.code, 'ERR_FERRY_UNKNOWN_EXPOSE');
  assert.match(missing.message, /has no module "\.\/missing"; it exposes \.\/validator, \.\/legacy, \.\/counter/);
  assert.equal((result['secondScope'] as { code: string }).code, 'ERR_FERRY_CONTAINER');
  const noUrl = result['noUrl'] as { code: string; message: string };
  assert.equal(noUrl.code, 'ERR_FERRY_CONTAINER');
  assert.match(noUrl.message, /cannot tell the URL it was loaded from/);
  assert.match(noUrl.message, /createInstance \+ loadRemote/);
});

test("an @module-federation/runtime host without jsonwebtoken refuses the remote's tampered fallback copy of it", async () => {
  const fallback = manifest.ferry.shared['jsonwebtoken']!.fallback as string;
  const copy = await tamperedCopy(fallback, CANARY);
  try {
    const run = await runMfHost(refusalHost(copy.url, 'validator', '{}'), { link: ['@module-federation/runtime'] });
    assert.equal(run.code, 0, run.stderr);
    const result = run.result!;
    assert.equal(result['tampered'], 0, 'the tampered fallback must never run');
    assert.deepEqual(result['ran'], [], 'nor the expose that needs it');
    const error = result['error'] as { code?: string; message: string };
    assert.equal(error?.code, 'ERR_FERRY_INTEGRITY', JSON.stringify(error));
    assert.ok(error.message.includes(fallback), error.message);
  } finally {
    await copy.close();
  }
});

test('an @module-federation/runtime host loading a ferry remote whose chunk is missing gets ERR_FERRY_HTTP_STATUS naming it', async () => {
  const [chunk] = manifest.ferry.exposes['./counter']!.chunks ?? [];
  const copy = await tamperedCopy(chunk!, undefined);
  try {
    const run = await runMfHost(refusalHost(copy.url, 'counter', JWT_SHARED), {
      link: ['@module-federation/runtime', 'jsonwebtoken'],
    });
    assert.equal(run.code, 0, run.stderr);
    const result = run.result!;
    assert.deepEqual(result['ran'], []);
    const error = result['error'] as { code?: string; message: string };
    assert.equal(error?.code, 'ERR_FERRY_HTTP_STATUS', JSON.stringify(error));
    assert.match(error.message, new RegExp(`${chunk!.replaceAll('.', '\\.')}.* answered HTTP 404`));
  } finally {
    await copy.close();
  }
});

test("a deep import of a shared package (jsonwebtoken/decode) comes from the remote's own copy, and is refused with the host's", async () => {
  const token = jwt.sign({ sub: 'edsger' }, SECRET);
  const body = `
  let decoder;
  try { decoder = await mf.loadRemote('authService/decoder'); } catch (error) { report({ error: describe(error) }); process.exit(0); }
  report({ sub: decoder.subjectOf(process.env.TOKEN) });
`;
  const own = await runMfHost(runtimeHost(`${server.url}remoteEntry.js`, '{}', body), {
    link: ['@module-federation/runtime'],
    env: { TOKEN: token },
  });
  assert.equal(own.code, 0, own.stderr);
  assert.deepEqual(own.result, { sub: 'edsger' });

  const hosts = await runMfHost(runtimeHost(`${server.url}remoteEntry.js`, JWT_SHARED, body), {
    link: ['@module-federation/runtime', 'jsonwebtoken'],
    env: { TOKEN: token },
  });
  assert.equal(hosts.code, 0, hosts.stderr);
  const error = hosts.result!['error'] as { code: string; message: string };
  assert.equal(error?.code, 'ERR_FERRY_UNDECLARED_DEPENDENCY', JSON.stringify(hosts.result));
  assert.match(error.message, /"jsonwebtoken\/decode", a path inside the shared module jsonwebtoken/);
  assert.match(error.message, /Declare "jsonwebtoken\/decode" as a shared module of its own/);
});

test('a hand-built ferry/testing remote (no container runtime) refuses a host that is not ferry with ERR_FERRY_CONTAINER', async () => {
  await using built = await createTempProject({});
  await writeHandBuilt(built.dir, {
    name: 'values',
    version: '1.0.0',
    release: 1,
    exposes: new Map([['./answer', { answer: 42 }]]),
    shared: {},
  });
  const run = await runMfHost(
    `
import { createRequire } from 'node:module';
const container = createRequire(import.meta.url)(process.env.ENTRY_FILE);
const refusals = [];
for (const call of [() => container.init({}), () => container.get('./answer')]) {
  try { await call(); refusals.push(null); } catch (error) { refusals.push(describe(error)); }
}
report({ refusals });
`,
    { link: [], env: { ENTRY_FILE: built.path('remoteEntry.js') } },
  );
  assert.equal(run.code, 0, run.stderr);
  for (const refusal of run.result!['refusals'] as Array<{ code: string; message: string }>) {
    assert.equal(refusal?.code, 'ERR_FERRY_CONTAINER');
    assert.match(refusal.message, /written without ferry's container runtime .* only a ferry host can load it/);
  }
});

/**
 * The build output served by a plain node:http server, except `name`, which `misbehave` answers: for the limits the
 * container puts on its own fetches.
 */
async function misbehavingServer(
  name: string,
  misbehave: (response: ServerResponse) => void,
): Promise<{ url: string; close(): Promise<void> }> {
  const dist = project.path('dist');
  const sockets = new Set<Socket>();
  const httpServer = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname).slice(1);
    if (path === name) {
      misbehave(response);
      return;
    }
    readFile(join(dist, path)).then(
      (bytes) => response.writeHead(200, { 'content-type': 'text/javascript' }).end(bytes),
      () => response.writeHead(404).end(),
    );
  });
  httpServer.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const { port } = httpServer.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        httpServer.close(() => resolve());
      }),
  };
}

test('in an @module-federation/runtime host, a chunk far larger than the build says is refused unread (ERR_FERRY_RESPONSE_TOO_LARGE)', async () => {
  const [chunk] = manifest.ferry.exposes['./counter']!.chunks ?? [];
  const size = manifest.ferry.files[chunk!]!.size;
  let sent = 0;
  const copy = await misbehavingServer(chunk!, (response) => {
    // No content-length: the cap must hold while the body streams. Stops on its own after 64 MiB.
    response.writeHead(200, { 'content-type': 'text/javascript' });
    const block = Buffer.alloc(64 * 1024, 0x20);
    const write = () => {
      while (sent < 64 * 1024 * 1024 && !response.destroyed) {
        sent += block.byteLength;
        if (!response.write(block)) return void response.once('drain', write);
      }
      response.end();
    };
    write();
  });
  try {
    const run = await runMfHost(refusalHost(copy.url, 'counter', JWT_SHARED), {
      link: ['@module-federation/runtime', 'jsonwebtoken'],
    });
    assert.equal(run.code, 0, run.stderr);
    const result = run.result!;
    assert.deepEqual(result['ran'], [], 'nothing of the expose ran');
    const error = result['error'] as { code?: string; message: string };
    assert.equal(error?.code, 'ERR_FERRY_RESPONSE_TOO_LARGE', JSON.stringify(error));
    assert.ok(error.message.includes(chunk!) && error.message.includes(`the build says ${size}`), error.message);
    assert.ok(sent < 16 * 1024 * 1024, `the host stopped reading early (the server wrote ${sent} bytes)`);
  } finally {
    await copy.close();
  }
});

test('in an @module-federation/runtime host, a chunk whose server never answers fails at the 10 s deadline (ERR_FERRY_TIMEOUT), not a hang', async () => {
  const [chunk] = manifest.ferry.exposes['./counter']!.chunks ?? [];
  const copy = await misbehavingServer(chunk!, () => {
    // Accepts the request and never answers.
  });
  try {
    const started = performance.now();
    const run = await runMfHost(refusalHost(copy.url, 'counter', JWT_SHARED), {
      link: ['@module-federation/runtime', 'jsonwebtoken'],
    });
    const elapsed = performance.now() - started;
    assert.equal(run.code, 0, run.stderr);
    const result = run.result!;
    assert.deepEqual(result['ran'], [], 'nothing of the expose ran');
    const error = result['error'] as { code?: string; message: string };
    assert.equal(error?.code, 'ERR_FERRY_TIMEOUT', JSON.stringify(error));
    assert.ok(error.message.includes(chunk!) && error.message.includes('10000 ms'), error.message);
    // Not a timed assertion of speed: only that the deadline, not the test runner, ended the wait.
    assert.ok(elapsed >= 10_000 && elapsed < 100_000, `ended after ${Math.round(elapsed)} ms`);
  } finally {
    await copy.close();
  }
});
