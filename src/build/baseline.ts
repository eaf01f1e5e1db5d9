/**
 * The release a build's API is compared with: the one served at the remote's URL (`baseline` in the config or
 * `--baseline <url|folder>`), else the previous build in the output folder. Its manifest is parsed with the same
 * guards a host uses and must name this remote; each declaration file is checked against the size and `sha384-`
 * the manifest lists before it is read. A URL that cannot be reached falls back to the output folder, said in a
 * warning; no release anywhere (a first build) means nothing to compare.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { BuildError } from '../common/errors.ts';
import { integrityOf, MANIFEST_FILE, type Manifest, parseManifest } from '../manifest/index.ts';

/** A previous release: its manifest and the declaration text of each expose that has one. */
export interface Baseline {
  /** Where it came from: a manifest URL or a folder path. */
  source: string;
  manifest: Manifest;
  /** Declaration text by expose key. */
  types: Map<string, string>;
}

const TIMEOUT_MS = 10_000;

async function fetchBytes(url: string): Promise<Uint8Array> {
  const response = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS), redirect: 'error' });
  if (!response.ok) throw new Error(`HTTP ${response.status} for ${url}`);
  return new Uint8Array(await response.arrayBuffer());
}

function checked(manifest: Manifest, name: string, bytes: Uint8Array, source: string): Uint8Array {
  const entry = manifest.ferry.files[name]!;
  if (bytes.byteLength !== entry.size || integrityOf(bytes) !== entry.integrity) {
    throw new BuildError(
      `The baseline release at ${source} is inconsistent: ${name} does not match its manifest. Redeploy it, or ` +
        'compare with another release (--baseline <url|folder>).',
      { file: name, url: source },
    );
  }
  return bytes;
}

async function load(
  source: string,
  remoteName: string,
  read: (name: string) => Promise<Uint8Array>,
): Promise<Baseline> {
  const manifest = parseManifest(await read(MANIFEST_FILE), source);
  if (manifest.name !== remoteName) {
    throw new BuildError(
      `The baseline release at ${source} belongs to remote "${manifest.name}", not "${remoteName}"; point ` +
        '`baseline` (or --baseline) at this remote.',
      { remote: remoteName, url: source },
    );
  }
  const types = new Map<string, string>();
  await Promise.all(
    Object.entries(manifest.ferry.exposes).map(async ([key, expose]) => {
      if (expose.types === undefined) return;
      const bytes = checked(manifest, expose.types, await read(expose.types), source);
      types.set(key, new TextDecoder().decode(bytes));
    }),
  );
  return { source, manifest, types };
}

/** The manifest URL for a baseline URL: a folder URL or a `.js` URL means the manifest beside it. */
function manifestUrl(url: string): string {
  const parsed = new URL(url);
  return parsed.pathname.endsWith('/') || parsed.pathname.endsWith('.js') ? new URL(MANIFEST_FILE, parsed).href : url;
}

async function fromFolder(folder: string, remoteName: string): Promise<Baseline | undefined> {
  try {
    await readFile(join(folder, MANIFEST_FILE));
  } catch {
    return undefined;
  }
  return load(folder, remoteName, (name) => readFile(join(folder, name)));
}

/**
 * Loads the baseline release, or undefined when there is none. `from` is a URL or a folder (relative to `root`);
 * without it, the output folder's current build.
 *
 * @example
 * ```ts
 * const { baseline, warnings } = await loadBaseline({ from: 'https://auth.example.com/federation/', root, outDir, name });
 * ```
 */
export async function loadBaseline(options: {
  from: string | undefined;
  root: string;
  outDir: string;
  name: string;
}): Promise<{ baseline: Baseline | undefined; warnings: string[] }> {
  const { from, root, outDir, name } = options;
  const warnings: string[] = [];
  if (from !== undefined && /^https?:\/\//i.test(from)) {
    const url = manifestUrl(from);
    try {
      const baseline = await load(url, name, (file) => fetchBytes(new URL(file, url).href));
      return { baseline, warnings };
    } catch (error) {
      if (error instanceof BuildError) throw error;
      warnings.push(
        `the baseline release at ${url} could not be read (${(error as Error).message}); the API is compared with ` +
          `the previous build in ${outDir} instead.`,
      );
    }
  } else if (from !== undefined) {
    const folder = isAbsolute(from) ? from : resolve(root, from);
    const baseline = await fromFolder(folder, name);
    if (baseline === undefined) {
      throw new BuildError(`The baseline folder ${folder} holds no ${MANIFEST_FILE}; give a \`ferry build\` output.`, {
        file: folder,
      });
    }
    return { baseline, warnings };
  }
  return { baseline: await fromFolder(outDir, name), warnings };
}
