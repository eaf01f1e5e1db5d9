/**
 * A build output folder for the server tests, written by hand (not by src/build) so the server is tested on its
 * own: a container, a content-hashed expose bundle and its map, a valid manifest listing them with correct
 * integrities, a signature file, plus the things that must never be served (a hidden file, a symlink out of the
 * folder, secrets next to and above it).
 */
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { integrityOf, MANIFEST_FILE, type Manifest, SIGNATURE_FILE } from '../../src/manifest/index.ts';
import { createTempProject, type TempProject } from './temp-project.ts';

export const HASHED_FILE = 'tokenValidator.ABCD2345.js';
export const HASHED_MAP = `${HASHED_FILE}.map`;
export const SECRET = 'TOP-SECRET-DO-NOT-SERVE';

export interface ServedFolder {
  project: TempProject;
  /** The build output folder (`<project>/dist/federation`). */
  dir: string;
  files: Record<string, string>;
}

/** The manifest for the given files, valid for parseManifest, with `remoteEntry.js` as the container. */
export function manifestFor(files: Record<string, string>): Manifest {
  const entries = Object.fromEntries(
    Object.entries(files).map(([name, text]) => [
      name,
      { size: Buffer.byteLength(text), integrity: integrityOf(Buffer.from(text)) },
    ]),
  );
  const assets = { js: { sync: [HASHED_FILE], async: [] }, css: { sync: [], async: [] } };
  return {
    id: 'authService',
    name: 'authService',
    metaData: {
      name: 'authService',
      type: 'app',
      buildInfo: { buildVersion: '1.0.0', buildName: 'auth-service' },
      remoteEntry: { name: 'remoteEntry.js', path: '', type: 'commonjs-module' },
      types: { path: '', name: '', zip: '', api: '' },
      globalName: 'authService',
      pluginVersion: '0.1.0',
      publicPath: 'auto',
    },
    shared: [],
    remotes: [],
    exposes: [{ id: 'authService:tokenValidator', name: 'tokenValidator', path: './tokenValidator', assets }],
    ferry: {
      formatVersion: 1,
      version: '1.0.0',
      release: 1,
      builtAt: '2026-01-01T00:00:00.000Z',
      expires: '2026-04-01T00:00:00.000Z',
      remoteEntry: 'remoteEntry.js',
      files: entries,
      exposes: { './tokenValidator': { file: HASHED_FILE, map: HASHED_MAP, shared: [] } },
      shared: {},
    },
  };
}

/** Writes the folder into a fresh temporary project; dispose the project afterwards. */
export async function createServedFolder(): Promise<ServedFolder> {
  const files: Record<string, string> = {
    'remoteEntry.js': 'exports.get = () => Promise.resolve(() => require("./tokenValidator.ABCD2345.js"));\n',
    [HASHED_FILE]: 'exports.validate = (token) => token === "ok";\n',
    [HASHED_MAP]: '{"version":3,"sources":["src/tokenValidator.ts"],"mappings":"AAAA"}\n',
  };
  const manifest = `${JSON.stringify(manifestFor(files), null, 2)}\n`;
  const project = await createTempProject({
    'package.json': `{"name":"${SECRET}"}`,
    'outside/secret.txt': SECRET,
    'dist/package.json': `{"name":"${SECRET}"}`,
    'dist/federation/.hidden': SECRET,
    'dist/federation/data.bin': 'raw',
    'dist/federation/notes.d.ts': 'export declare const a: number;\n',
    [`dist/federation/${MANIFEST_FILE}`]: manifest,
    [`dist/federation/${SIGNATURE_FILE}`]: '{"algorithm":"ed25519","publicKey":"x","signature":"y"}\n',
    ...Object.fromEntries(Object.entries(files).map(([name, text]) => [`dist/federation/${name}`, text])),
  });
  const dir = project.path('dist', 'federation');
  await symlink(project.path('outside', 'secret.txt'), join(dir, 'link-out.js'));
  await symlink(join('..', '..', 'outside'), join(dir, 'linked-dir'));
  await symlink(join(dir, '.hidden'), join(dir, 'link-hidden.js'));
  await symlink('remoteEntry.js', join(dir, 'link-in.js'));
  await mkdir(join(dir, 'sub'));
  await writeFile(join(dir, 'sub', 'nested.js'), 'exports.nested = true;\n');
  return { project, dir, files: { ...files, [MANIFEST_FILE]: manifest } };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * Sends a request with the path exactly as given (fetch would normalise `..` and encodings away) and collects the
 * response.
 */
export function rawRequest(
  base: string,
  path: string,
  options: { method?: string; headers?: Record<string, string> } = {},
): Promise<RawResponse> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path,
        method: options.method ?? 'GET',
        headers: options.headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}
