/**
 * A host with two signed remotes (`authService`, `billing`) that share `semver` as a singleton the host provides,
 * each served by ferry's own request handler (ETags, 304) on loopback and republishable with a new release, and the
 * host's inspector mounted on a loopback server at `/ferry`. For the inspector, CLI, browser and Prometheus tests.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHost, type Host, type HostOptions } from '../../src/index.ts';
import { createInspector, type InspectorHandler, type InspectorOptions } from '../../src/inspector/index.ts';
import { signManifest } from '../../src/manifest/index.ts';
import { createRequestHandler } from '../../src/server/index.ts';
import { writeRemoteOutput } from './remote-output.ts';
import { REPO_ROOT } from './temp-project.ts';
import { newKeys } from './trust-fixture.ts';

export interface ObservedRemote {
  name: string;
  dir: string;
  manifestUrl: string;
  publicKey: string;
  /** Writes and signs a new build (`version`, `release`); the server serves it from then on. */
  publish(version: string, release: number): Promise<void>;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 (or `host`), port 0; resolves to the server and its base URL. */
export async function listen(
  handler: Parameters<typeof createServer>[1],
  host = '127.0.0.1',
): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  server.listen(0, host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://${host.includes(':') ? `[${host}]` : host}:${port}` };
}

/** A signed remote exposing `./api`, whose code requires the shared `semver`. */
export async function startObservedRemote(name: string, version = '1.0.0', release = 1): Promise<ObservedRemote> {
  const dir = mkdtempSync(join(tmpdir(), `ferry-observed-${name}-`));
  const { privateKey, publicKey } = newKeys();
  const publish = async (v: string, r: number) => {
    const { bytes } = await writeRemoteOutput(dir, {
      name,
      version: v,
      release: r,
      exposes: {
        './api': {
          code: `const semver = require('semver');\nexports.version = ${JSON.stringify(v)};\nexports.ok = semver.valid('1.2.3') !== null;\n`,
          shared: ['semver'],
        },
      },
      shared: { semver: { version: '7.0.0', requiredVersion: '^7.0.0', singleton: true } },
    });
    await writeFile(join(dir, 'mf-manifest.json.sig'), signManifest(bytes, privateKey));
  };
  await publish(version, release);
  const handler = createRequestHandler({ dir });
  const { server, url } = await listen((req, res) => handler(req, res));
  return {
    name,
    dir,
    manifestUrl: `${url}/mf-manifest.json`,
    publicKey,
    publish,
    async close() {
      server.closeAllConnections();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ObservedHost extends AsyncDisposable {
  host: Host;
  remotes: ObservedRemote[];
  inspector: InspectorHandler;
  /** The inspector's base URL (`http://127.0.0.1:<port>/ferry/`). */
  inspectorUrl: string;
  server: Server;
}

/** The host (`shopService`), both remotes imported once, and its inspector at `/ferry` on loopback. */
export async function startObservedHost(
  inspectorOptions: InspectorOptions = {},
  hostOptions: Partial<HostOptions> = {},
  address = '127.0.0.1',
): Promise<ObservedHost> {
  const remotes = [
    await startObservedRemote('authService', '1.0.0', 3),
    await startObservedRemote('billing', '2.1.0', 5),
  ];
  const cacheDir = mkdtempSync(join(tmpdir(), 'ferry-observed-cache-'));
  const host = createHost({
    name: 'shopService',
    root: REPO_ROOT,
    remotes: Object.fromEntries(remotes.map((r) => [r.name, { url: r.manifestUrl, publicKey: r.publicKey }])),
    shared: { semver: { singleton: true, requiredVersion: '^7.0.0' } },
    cache: { dir: cacheDir },
    live: { pollInterval: false, push: false },
    onWarning: () => {},
    ...hostOptions,
  });
  const inspector = createInspector(host, { basePath: '/ferry', ...inspectorOptions });
  for (const remote of remotes) await host.import(`${remote.name}/api`);
  const { server } = await listen((req, res) => inspector(req, res), address);
  const port = (server.address() as AddressInfo).port;
  return {
    host,
    remotes,
    inspector,
    inspectorUrl: `http://127.0.0.1:${port}/ferry/`,
    server,
    async [Symbol.asyncDispose]() {
      inspector.close();
      server.closeAllConnections();
      server.close();
      await host.close();
      for (const remote of remotes) await remote.close();
      rmSync(cacheDir, { recursive: true, force: true });
    },
  };
}
