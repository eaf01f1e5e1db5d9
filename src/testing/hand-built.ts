/**
 * A build output folder written without a bundler, for test remotes made of plain values: one CommonJS file per
 * expose (module-source.ts), the container `ferry build` writes (`createRemoteEntry`), and a manifest with the real
 * size and `sha384-` integrity of every file, written last, atomically, so a host never sees a half-written remote.
 */
import { join } from 'node:path';
import { createRemoteEntry } from '../build/remote-entry.ts';
import { writeFileAtomic } from '../common/atomic-write.ts';
import { integrityOf, MANIFEST_FILE, type Manifest, parseManifest, type SharedEntry } from '../manifest/index.ts';
import { type ModuleValues, sourceOfValues } from './module-source.ts';

/** What to write: the remote's identity, its modules by expose key, and its shared packages. */
export interface HandBuiltSpec {
  name: string;
  version: string;
  release: number;
  exposes: ReadonlyMap<string, ModuleValues>;
  shared: Readonly<Record<string, SharedEntry>>;
}

const EXPIRES_MS = 90 * 86_400_000;

/** `./tokenValidator` → `tokenValidator`, `./a/b` → `a-b`, `.` → `index` (as `ferry build` names its bundles). */
function stemOf(key: string): string {
  return key === '.' ? 'index' : key.slice(2).replaceAll('/', '-');
}

/** Writes the remote into `dir`; resolves to the manifest's exact bytes (for signing) and the manifest. */
export async function writeHandBuilt(
  dir: string,
  spec: HandBuiltSpec,
): Promise<{ bytes: Uint8Array; manifest: Manifest }> {
  const files: Manifest['ferry']['files'] = {};
  const write = async (name: string, text: string) => {
    const bytes = new TextEncoder().encode(text);
    await writeFileAtomic(join(dir, name), bytes, { createParent: true });
    files[name] = { size: bytes.byteLength, integrity: integrityOf(bytes) };
  };
  await write('package.json', '{\n  "type": "commonjs"\n}\n');
  const exposes: Manifest['ferry']['exposes'] = {};
  const entries: Array<{ key: string; file: string }> = [];
  for (const [key, values] of spec.exposes) {
    const code = sourceOfValues(values, `exposes[${JSON.stringify(key)}]`);
    const hash = integrityOf(new TextEncoder().encode(code))
      .slice(7)
      .replace(/[^A-Za-z0-9]/g, '');
    const file = `${stemOf(key)}.${hash.slice(0, 10)}.js`;
    await write(file, code);
    exposes[key] = { file, shared: Object.keys(spec.shared) };
    entries.push({ key, file });
  }
  await write('remoteEntry.js', createRemoteEntry(spec.name, entries));
  const now = Date.now();
  const manifest: Manifest = {
    id: spec.name,
    name: spec.name,
    metaData: {
      name: spec.name,
      type: 'app',
      buildInfo: { buildVersion: spec.version, buildName: spec.name },
      remoteEntry: { name: 'remoteEntry.js', path: '', type: 'commonjs-module' },
      types: { path: '', name: '', zip: '', api: '' },
      globalName: spec.name,
      pluginVersion: 'ferry/testing',
      publicPath: 'auto',
    },
    shared: Object.entries(spec.shared).map(([key, entry]) => ({
      id: `${spec.name}:${key}`,
      name: key,
      version: entry.version,
      singleton: entry.singleton,
      requiredVersion: entry.requiredVersion === false ? '*' : entry.requiredVersion,
      hash: '',
      assets: { js: { sync: [], async: [] }, css: { sync: [], async: [] } },
    })),
    remotes: [],
    exposes: entries.map(({ key, file }) => ({
      id: `${spec.name}:${stemOf(key)}`,
      name: stemOf(key),
      path: key,
      assets: { js: { sync: [file], async: [] }, css: { sync: [], async: [] } },
    })),
    ferry: {
      formatVersion: 1,
      version: spec.version,
      release: spec.release,
      builtAt: new Date(now).toISOString(),
      expires: new Date(now + EXPIRES_MS).toISOString(),
      remoteEntry: 'remoteEntry.js',
      files,
      exposes,
      shared: { ...spec.shared },
    },
  };
  const bytes = new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`);
  // What a host will check: a manifest this writer gets wrong fails here, in the test that made it.
  parseManifest(bytes, MANIFEST_FILE);
  await writeFileAtomic(join(dir, MANIFEST_FILE), bytes);
  return { bytes, manifest };
}
