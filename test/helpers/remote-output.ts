/**
 * Writes a small remote build output by hand (manifest with real sizes and integrities, a container, expose files),
 * so runtime tests can shape exactly the remote they need without running the bundler.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { integrityOf } from '../../src/manifest/integrity.ts';
import type { Manifest, SharedEntry } from '../../src/manifest/types.ts';

export interface HandBuiltExpose {
  /** CommonJS source of the expose file. */
  code: string;
  /** Source map JSON for it. */
  map?: string;
  /** Shared packages it requires. */
  shared?: string[];
}

export interface HandBuiltRemote {
  name: string;
  version?: string;
  release?: number;
  expires?: string;
  exposes: Record<string, HandBuiltExpose>;
  shared?: Record<string, Partial<SharedEntry>>;
  /** Replace the container source. */
  remoteEntry?: string;
  /**
   * `esm`: the expose code is a ferry module (the body of an async function, as `ferry build` writes since ES module
   * output: its namespace through `__ferryNamespace`) and the container loads it through `__ferryImport`. Default:
   * CommonJS, as builds before that wrote.
   */
  format?: 'esm' | 'commonjs';
}

function container(name: string, files: Record<string, string>, format: 'esm' | 'commonjs'): string {
  const load =
    format === 'esm'
      ? `__ferryImport('./' + files[request]).then((namespace) => () => namespace)`
      : `Promise.resolve(() => require('./' + files[request]))`;
  return `'use strict';
const files = ${JSON.stringify(files)};
let scope;
exports.init = (shareScope) => { if (scope && scope !== shareScope) throw new Error('already initialised'); scope = shareScope; };
exports.get = (request) => Object.hasOwn(files, request)
  ? ${load}
  : Promise.reject(new Error('Module "' + request + '" does not exist in container "${name}".'));
`;
}

/** Writes the output into `dir`; returns the manifest and its bytes. */
export async function writeRemoteOutput(
  dir: string,
  spec: HandBuiltRemote,
): Promise<{ manifest: Manifest; bytes: Buffer }> {
  const contents: Record<string, string> = {};
  const exposes: Manifest['ferry']['exposes'] = {};
  const exposeFiles: Record<string, string> = {};
  for (const [key, expose] of Object.entries(spec.exposes)) {
    const base = key === '.' ? 'index' : key.slice(2).replaceAll('/', '-');
    const file = `${base}.${integrityOf(Buffer.from(expose.code))
      .slice(7, 17)
      .replace(/[^A-Za-z0-9]/g, 'x')}.js`;
    contents[file] = expose.code;
    exposeFiles[key] = file;
    exposes[key] = { file, shared: expose.shared ?? [] };
    if (expose.map) {
      contents[`${file}.map`] = expose.map;
      exposes[key].map = `${file}.map`;
    }
  }
  const format = spec.format ?? 'commonjs';
  contents['remoteEntry.js'] = spec.remoteEntry ?? container(spec.name, exposeFiles, format);
  // As `ferry build` writes ferry modules: each expose says it is not CommonJS, so hosts load it without the container.
  // A test that gives its own container wants it used, as it is for builds that did not write the field.
  if (format === 'esm' && spec.remoteEntry === undefined) {
    for (const expose of Object.values(exposes)) expose.commonjs = false;
  }
  const modules = new Set(format === 'esm' ? Object.values(exposeFiles) : []);
  const files: Manifest['ferry']['files'] = {};
  for (const [file, text] of Object.entries(contents)) {
    const bytes = Buffer.from(text);
    files[file] = {
      size: bytes.byteLength,
      integrity: integrityOf(bytes),
      ...(modules.has(file) ? { type: 'esm' } : {}),
    };
    await mkdir(dirname(join(dir, file)), { recursive: true });
    await writeFile(join(dir, file), bytes);
  }
  const shared: Manifest['ferry']['shared'] = {};
  for (const [pkg, entry] of Object.entries(spec.shared ?? {})) {
    shared[pkg] = {
      version: '0.0.0',
      requiredVersion: false,
      singleton: false,
      strictVersion: false,
      eager: false,
      shareScope: 'default',
      fallback: false,
      ...entry,
    };
  }
  const version = spec.version ?? '1.0.0';
  const manifest: Manifest = {
    id: spec.name,
    name: spec.name,
    metaData: {
      name: spec.name,
      type: 'app',
      buildInfo: { buildVersion: version, buildName: spec.name },
      remoteEntry: { name: 'remoteEntry.js', path: '', type: 'commonjs-module' },
      types: { path: '', name: '', zip: '', api: '' },
      globalName: spec.name,
      pluginVersion: 'test',
      publicPath: 'auto',
    },
    shared: [],
    remotes: [],
    exposes: [],
    ferry: {
      formatVersion: 1,
      version,
      release: spec.release ?? 1,
      builtAt: new Date().toISOString(),
      expires: spec.expires ?? new Date(Date.now() + 86_400_000).toISOString(),
      remoteEntry: 'remoteEntry.js',
      files,
      exposes,
      shared,
    },
  };
  const bytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  await writeFile(join(dir, 'mf-manifest.json'), bytes);
  return { manifest, bytes };
}
