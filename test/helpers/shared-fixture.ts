/**
 * Remotes built with the real `ferry build` (in-process) against real npm packages in chosen versions, each served
 * from a loopback server, for the sharing tests.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { buildRemote } from '../../src/build/index.ts';
import type { Manifest } from '../../src/manifest/index.ts';
import { type Loopback, startLoopback } from './loopback.ts';
import { linkNpmPackage } from './npm-packages.ts';
import { createTempProject, type TempProject } from './temp-project.ts';

export interface SharedRemoteSpec {
  name: string;
  /** Installed packages: name -> exact version (from the registry). */
  packages: Record<string, string>;
  /** package.json dependencies (ranges). */
  dependencies: Record<string, string>;
  /** The `shared` option of ferry.config.json. */
  shared: Record<string, unknown>;
  /** The exposed module's CommonJS source (`./index`). */
  source: string;
}

export interface BuiltRemote {
  name: string;
  manifest: Manifest;
  server: Loopback;
  /** `name@<manifest URL>`. */
  url: string;
  project: TempProject;
}

/** Builds a remote with `./index` exposing `spec.source`, and serves its output folder. */
export async function buildSharedRemote(spec: SharedRemoteSpec): Promise<BuiltRemote> {
  const project = await createTempProject({
    'package.json': JSON.stringify({ name: spec.name, version: '1.0.0', dependencies: spec.dependencies }),
    'src/index.js': spec.source,
    'ferry.config.json': JSON.stringify({
      name: spec.name,
      exposes: { './index': './src/index.js' },
      shared: spec.shared,
      dts: false,
      release: 1,
    }),
  });
  for (const [pkg, version] of Object.entries(spec.packages)) await linkNpmPackage(project.dir, pkg, version);
  const { manifest, outDir } = await buildRemote({ root: project.dir });
  const server = await startLoopback(outDir);
  return { name: spec.name, manifest, server, url: `${server.url}mf-manifest.json`, project };
}

/** A host root folder with the given packages installed (none: a host that has nothing). */
export async function createHostRoot(
  packages: Record<string, string>,
): Promise<TempProject & { require: NodeJS.Require }> {
  const dependencies = Object.fromEntries(Object.keys(packages).map((name) => [name, '*']));
  const project = await createTempProject({ 'package.json': JSON.stringify({ name: 'host', dependencies }) });
  for (const [pkg, version] of Object.entries(packages)) await linkNpmPackage(project.dir, pkg, version);
  return Object.assign(project, { require: createRequire(join(project.dir, 'noop.js')) });
}
