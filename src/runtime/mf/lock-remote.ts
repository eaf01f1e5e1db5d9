/**
 * What `ferry lock` pins of one Module Federation remote: fetches its `mf-manifest.json` and every file its exposes
 * and shared packages list (`assets.js.sync` and `async`), hashes each, and finds the packages its files `require`
 * (its externals). Given a `remoteEntry.js` URL, the file list comes from the `mf-manifest.json` served beside it
 * (the host then fetches only the container and the locked chunks; the manifest is not pinned); without one, only
 * `--record` (lock-record.ts) can lock it, by running it. Otherwise nothing of the remote is run. Fetching uses ferry's HTTP client: deadline, byte cap, status before body, same-origin redirects.
 */
import { UnsupportedContainerError } from '../../common/errors.ts';
import { integrityOf, MANIFEST_FILE } from '../../manifest/index.ts';
import { type FetchLike, fetchBytes } from '../net/fetch-bytes.ts';
import type { ResolvedRemote } from '../options/remote-options.ts';
import { requiredPackages } from './container-files.ts';
import type { LockedFile, LockedRemote } from './lock-file.ts';
import { recordRemote } from './lock-record.ts';
import { parseMfManifest } from './mf-manifest.ts';
import { exposesOf, fileNameOf, isContainerUrl } from './mf-remote.ts';

/** The largest file `ferry lock` fetches. */
const MAX_FILE = 32 << 20;

/** Fetches and hashes everything the host will need of `remote`; resolves to its lock entry. */
export async function lockRemote(
  remote: ResolvedRemote,
  options: {
    fetch?: FetchLike | undefined;
    maxManifestBytes: number;
    /** `ferry lock --record`: a container without a manifest is run to find its chunks (lock-record.ts). */
    record?: { exposes: readonly string[]; root: string };
  },
): Promise<LockedRemote> {
  const get = (url: string, what: string, maxBytes = MAX_FILE, allowNotFound = false) =>
    fetchBytes(url, {
      timeout: remote.timeouts.request,
      remote: remote.alias,
      fetch: options.fetch,
      maxBytes,
      what,
      allowNotFound,
    });
  const files: Record<string, LockedFile> = {};
  const texts: string[] = [];
  const add = (name: string, bytes: Uint8Array, code: boolean) => {
    files[name] = { size: bytes.byteLength, integrity: integrityOf(bytes) };
    if (code) texts.push(Buffer.from(bytes).toString('utf8'));
  };
  const containerUrl = isContainerUrl(remote.manifestUrl);
  const manifestUrl = containerUrl ? new URL(MANIFEST_FILE, remote.manifestUrl).href : remote.manifestUrl;
  const response = await get(manifestUrl, 'manifest', options.maxManifestBytes, containerUrl);
  if (response.status === 404) {
    if (options.record) return recordRemote(remote, { fetch: options.fetch, ...options.record });
    throw new UnsupportedContainerError(
      `Remote "${remote.alias}" (${remote.manifestUrl}) serves no ${MANIFEST_FILE} beside its container, so ` +
        '`ferry lock` cannot tell which chunks its exposes need without running its code. Build the remote with ' +
        "Module Federation's `manifest: true` and output.publicPath: 'auto' and serve the whole output folder, or " +
        'run `ferry lock --record` (which runs the remote to record what it loads).',
      { remote: remote.alias, url: manifestUrl },
    );
  }
  const mf = parseMfManifest(response.bytes, manifestUrl, remote.alias);
  const base = containerUrl ? remote.manifestUrl : manifestUrl;
  const entry = containerUrl ? fileNameOf(remote.manifestUrl) : mf.entry;
  if (!containerUrl) add(fileNameOf(manifestUrl), response.bytes, false);
  const exposes = exposesOf(mf);
  const names = [...new Set([entry, ...Object.values(exposes).flat()])];
  await Promise.all(
    names.map(async (name) => {
      const { bytes } = await get(new URL(name, base).href, `file ${name}`);
      add(name, bytes, true);
    }),
  );
  return {
    name: mf.name,
    entry,
    ...(containerUrl ? {} : { manifest: fileNameOf(manifestUrl) }),
    exposes,
    files,
    packages: requiredPackages(texts),
  };
}
