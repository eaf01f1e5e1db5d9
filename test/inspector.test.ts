/**
 * ferry/inspector over real HTTP: the JSON of a host with two remotes and a shared singleton (versions, releases,
 * sources, key ids, the federation graph and the shared resolution), a live update announced on the event stream and
 * visible in the next snapshot, mounting on express and fastify, its security (read-only, loopback or token, no
 * secrets), and `ferry inspect` printing the same data from a spawned CLI.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { get, type IncomingMessage, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { test } from 'node:test';
import express from 'express';
import Fastify from 'fastify';
import { createHost, InvalidOptionError } from '../src/index.ts';
import { createInspector, type InspectorSnapshot } from '../src/inspector/index.ts';
import { runFerry } from './helpers/build-fixture.ts';
import { listen, startObservedHost, startObservedRemote } from './helpers/observed-host.ts';
import { REPO_ROOT } from './helpers/temp-project.ts';

const TOKEN = 'inspector-test-token-0123456789';

async function snapshotOf(url: string, headers: Record<string, string> = {}): Promise<InspectorSnapshot> {
  const response = await fetch(new URL('api', url), { headers });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('cache-control'), 'no-store');
  return (await response.json()) as InspectorSnapshot;
}

test('the JSON: two remotes with version, release, source, key id; the graph; the shared singleton and why', async () => {
  await using observed = await startObservedHost();
  const snapshot = await snapshotOf(observed.inspectorUrl);
  assert.equal(snapshot.host, 'shopService');
  assert.deepEqual(
    snapshot.remotes.map((r) => [r.alias, r.version, r.release, r.source, r.breaker?.state, r.keyId?.length]),
    [
      ['authService', '1.0.0', 3, 'network', 'closed', 16],
      ['billing', '2.1.0', 5, 'network', 'closed', 16],
    ],
  );
  assert.equal(snapshot.remotes[0]!.url, observed.remotes[0]!.manifestUrl);
  assert.ok(snapshot.remotes[0]!.ageMs! >= 0 && snapshot.remotes[0]!.since);
  const semver = snapshot.shared['default']?.['semver'];
  assert.ok(semver, 'semver is in the shared report');
  assert.equal(semver.chosen.length, 1, 'a singleton: one version chosen');
  assert.deepEqual(
    semver.uses.map((u) => [u.consumer, u.from]),
    [
      ['host "shopService" (its own code)', 'shopService'],
      ['remote "authService" (./api)', 'shopService'],
      ['remote "billing" (./api)', 'shopService'],
    ],
  );
  const edges = snapshot.graph.edges.map((e) => `${e.from} -${e.kind}-> ${e.to}`);
  assert.deepEqual(edges.sort(), [
    'host:shopService -loads-> remote:authService',
    'host:shopService -loads-> remote:billing',
    'host:shopService -provides-> shared:default:semver',
    'host:shopService -uses-> shared:default:semver',
    'remote:authService -uses-> shared:default:semver',
    'remote:billing -uses-> shared:default:semver',
  ]);
  assert.match(snapshot.graph.svg, /^<svg [^>]*>.*<text class="label"[^>]*>authService<\/text>.*<\/svg>$/s);
  assert.equal((snapshot.graph.svg.match(/<path class="edge /g) ?? []).length, 6);
  assert.deepEqual(snapshot.imports.map((i) => [i.remote, i.expose, i.version]).sort(), [
    ['authService', './api', '1.0.0'],
    ['billing', './api', '2.1.0'],
  ]);
  // The page itself: served with a nonce CSP, nothing loaded from elsewhere.
  const page = await fetch(observed.inspectorUrl);
  assert.equal(page.status, 200);
  const csp = page.headers.get('content-security-policy') ?? '';
  assert.match(csp, /default-src 'none'; script-src 'nonce-[^']+'/);
  const html = await page.text();
  assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href="(?!data:)|https?:\/\/(?!www\.w3\.org)/);
});

test('a live update is announced on the event stream and is in the next snapshot', async () => {
  await using observed = await startObservedHost();
  const res = await new Promise<IncomingMessage>((resolve, reject) =>
    get(new URL('events', observed.inspectorUrl), resolve).on('error', reject),
  );
  assert.equal(res.headers['content-type'], 'text/event-stream');
  res.setEncoding('utf8');
  let received = '';
  res.on('data', (chunk: string) => {
    received += chunk;
  });
  await observed.remotes[0]!.publish('1.1.0', 4);
  const [outcome] = await observed.host.update('authService');
  assert.equal(outcome!.status, 'activated');
  while (!received.includes('update:activated')) await once(res, 'data');
  res.destroy();
  assert.match(received, /event: change\ndata: \{"types":\["update:check"/);
  assert.match(received, /event: change\ndata: \{"types":\[[^\]]*"update:activated"/);
  const snapshot = await snapshotOf(observed.inspectorUrl);
  const auth = snapshot.remotes.find((r) => r.alias === 'authService')!;
  assert.equal(auth.version, '1.1.0');
  assert.equal(auth.release, 4);
  assert.equal(auth.lastCheck?.trigger, 'manual');
  assert.deepEqual(
    [auth.lastUpdate?.type, auth.lastUpdate?.version, auth.lastUpdate?.previous],
    ['activated', '1.1.0', '1.0.0'],
  );
  assert.ok(snapshot.events.some((e) => e.type === 'update:activated' && e.remote === 'authService'));
});

test('mounted on express (app.use strips the path) and on fastify (basePath)', async () => {
  const remote = await startObservedRemote('authService');
  const host = createHost({
    name: 'mounted',
    root: REPO_ROOT,
    remotes: { authService: { url: remote.manifestUrl, publicKey: remote.publicKey } },
    shared: { semver: { singleton: true, requiredVersion: '^7.0.0' } },
    live: { pollInterval: false, push: false },
    onWarning: () => {},
  });
  try {
    await host.import('authService/api');
    const expressInspector = createInspector(host);
    const app = express();
    app.use('/ops/ferry', expressInspector);
    app.get('/', (_req, res) => res.send('app'));
    const expressServer = app.listen(0, '127.0.0.1');
    await once(expressServer, 'listening');
    const expressUrl = `http://127.0.0.1:${(expressServer.address() as AddressInfo).port}/ops/ferry/`;
    assert.equal((await snapshotOf(expressUrl)).host, 'mounted');
    assert.match(await (await fetch(expressUrl)).text(), /<title>ferry inspector<\/title>/);
    expressInspector.close();
    expressServer.close();

    const fastifyInspector = createInspector(host, { basePath: '/ferry' });
    const fastify = Fastify();
    fastify.all('/ferry', (req, reply) => {
      reply.hijack();
      fastifyInspector(req.raw, reply.raw);
    });
    fastify.all('/ferry/*', (req, reply) => {
      reply.hijack();
      fastifyInspector(req.raw, reply.raw);
    });
    const address = await fastify.listen({ port: 0, host: '127.0.0.1' });
    assert.equal((await snapshotOf(`${address}/ferry/`)).remotes[0]!.version, '1.0.0');
    fastifyInspector.close();
    await fastify.close();
  } finally {
    await host.close();
    await remote.close();
  }
});

/** A non-loopback IPv4 address of this machine, if it has one. */
function externalAddress(): string | undefined {
  return Object.values(networkInterfaces())
    .flat()
    .find((i) => i && !i.internal && i.family === 'IPv4')?.address;
}

function send(
  url: string,
  method: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('inspector security: read-only, loopback only without a token, the token compared when set, no secrets shown', async (t) => {
  // A token that is too short is refused at creation.
  const probe = createHost({ name: 'probe', remotes: {}, onWarning: () => {} });
  assert.throws(() => createInspector(probe, { token: 'short' }), InvalidOptionError);
  assert.throws(() => createInspector(probe, { basePath: 'ferry/' }), InvalidOptionError);
  assert.throws(() => createInspector(probe, { history: 0 }), InvalidOptionError);
  await probe.close();

  // Read-only: every method but GET and HEAD is refused, on every path.
  await using open = await startObservedHost({}, {}, '0.0.0.0');
  const port = (open.server.address() as AddressInfo).port;
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    assert.equal((await send(`${open.inspectorUrl}api`, method)).status, 405, method);
  }
  assert.equal((await send(`${open.inspectorUrl}api`, 'HEAD')).status, 200);

  // No secrets: no key material, no URL credentials or query strings (remote URLs and error messages).
  const json = JSON.stringify(await snapshotOf(open.inspectorUrl));
  for (const remote of open.remotes) assert.ok(!json.includes(remote.publicKey.split(':')[1]!), 'no public key');
  // Remote URLs may carry a token in their query (credentials in a URL are refused by createHost itself): a host
  // with one such remote up and one down shows neither the query nor the failed request's URL query.
  const secretRemote = await startObservedRemote('secretRemote');
  const leaky = createHost({
    name: 'leaky',
    root: REPO_ROOT,
    remotes: {
      secretRemote: {
        url: `${secretRemote.manifestUrl}?access_token=SECRET-IN-QUERY`,
        publicKey: secretRemote.publicKey,
      },
      downRemote: { url: 'http://127.0.0.1:9/mf-manifest.json?sig=SECRET-SIG', retry: false },
    },
    shared: { semver: { singleton: true, requiredVersion: '^7.0.0' } },
    live: { pollInterval: false, push: false },
    onWarning: () => {},
  });
  const leakyInspector = createInspector(leaky);
  const { server: leakyServer, url: leakyUrl } = await listen((req, res) => leakyInspector(req, res));
  try {
    await leaky.import('secretRemote/api');
    const failure = await leaky.import('downRemote/api').catch((error: Error) => error);
    assert.match(String(failure), /SECRET-SIG/, 'the error itself names the URL (the inspector must redact it)');
    const after = await snapshotOf(`${leakyUrl}/`);
    assert.equal(after.remotes[0]!.url, secretRemote.manifestUrl, 'the URL is shown without its query');
    assert.equal(after.remotes[1]!.lastError?.code, 'ERR_FERRY_NETWORK');
    assert.ok(after.events.some((e) => e.type === 'import:error' && e.remote === 'downRemote'));
    assert.doesNotMatch(JSON.stringify(after), /SECRET/);
  } finally {
    leakyInspector.close();
    leakyServer.close();
    await leaky.close();
    await secretRemote.close();
  }

  // Off loopback, without a token: refused.
  const external = externalAddress();
  if (external === undefined)
    t.diagnostic('no non-loopback address on this machine: the off-loopback check is skipped');
  else {
    const refused = await send(`http://${external}:${port}/ferry/api`, 'GET');
    assert.equal(refused.status, 403);
    assert.match(refused.body, /only loopback clients unless it is created with a token/);
  }

  // With a token: required everywhere (loopback included), checked in constant time, accepted as header or query.
  await using guarded = await startObservedHost({ token: TOKEN }, {}, '0.0.0.0');
  const base = guarded.inspectorUrl;
  assert.equal((await send(`${base}api`, 'GET')).status, 401);
  assert.equal((await send(`${base}api`, 'GET', { authorization: `Bearer ${TOKEN}x` })).status, 401);
  assert.equal((await send(`${base}api`, 'GET', { authorization: `Bearer ${TOKEN.slice(0, -1)}` })).status, 401);
  assert.equal((await send(`${base}api?token=wrong`, 'GET')).status, 401);
  assert.equal((await send(`${base}api`, 'GET', { authorization: `Bearer ${TOKEN}` })).status, 200);
  assert.equal((await send(`${base}?token=${TOKEN}`, 'GET')).status, 200);
  const page = await send(`${base}?token=${TOKEN}`, 'GET');
  const api = await send(`${base}api?token=${TOKEN}`, 'GET');
  assert.ok(!page.body.includes(TOKEN) && !api.body.includes(TOKEN), 'the token is never echoed');
  if (external !== undefined) {
    const guardedPort = (guarded.server.address() as AddressInfo).port;
    assert.equal((await send(`http://${external}:${guardedPort}/ferry/api`, 'GET')).status, 401);
    const remoteOk = await send(`http://${external}:${guardedPort}/ferry/api`, 'GET', {
      authorization: `Bearer ${TOKEN}`,
    });
    assert.equal(remoteOk.status, 200);
  }
  // Unknown paths are not the inspector's.
  assert.equal((await send(`${base}../other`, 'GET')).status, 404);
});

test('ferry inspect <url> prints the remotes, the graph, the shared packages and recent events', async () => {
  await using observed = await startObservedHost({ token: TOKEN });
  const url = observed.inspectorUrl.replace(/\/$/, '');
  const denied = await runFerry(['inspect', url], { cwd: REPO_ROOT });
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /answered 401\. Pass its token with --token .*\[ERR_FERRY_HTTP_STATUS\]/);
  const result = await runFerry(['inspect', url, '--token', TOKEN], { cwd: REPO_ROOT });
  assert.equal(result.code, 0, result.stderr);
  const out = result.stdout;
  assert.match(out, /^ferry host "shopService"/);
  assert.match(out, /^authService\s+1\.0\.0\s+3\s+network\s+\S+\s+[0-9a-f]{16}\s+closed/m);
  assert.match(out, /^billing\s+2\.1\.0\s+5\s+network/m);
  assert.match(
    out,
    /Federation graph\nshopService \(host\)\n├─ authService \(1\.0\.0 · r3 · network\)\n│ {2}└─ uses semver/,
  );
  assert.match(
    out,
    /^semver\s+\S+ by shopService\s+\S+\s+host "shopService" \(its own code\) -> \S+ from shopService: /m,
  );
  assert.match(out, /^\s+remote "authService" \(\.\/api\) -> \S+ from shopService: /m);
  assert.match(out, /Recent imports\n.*\n.*(authService|billing)\/api/);
  const json = await runFerry(['inspect', url, '--json'], { cwd: REPO_ROOT, env: { FERRY_INSPECTOR_TOKEN: TOKEN } });
  assert.equal(json.code, 0, json.stderr);
  assert.equal((JSON.parse(json.stdout) as InspectorSnapshot).remotes.length, 2);
});
