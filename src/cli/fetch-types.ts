/**
 * Fetching a remote's type declarations for `ferry types`, verified exactly like code: the manifest (and its signature
 * when a key is pinned, checked over the raw bytes before parsing), the manifest's remote name, then each `.d.ts` by
 * the size and `sha384-` integrity the manifest lists. The built files name the remote by a placeholder; it is
 * replaced by the alias the host imports the remote by.
 */
import { IntegrityError, ManifestMismatchError } from '../common/errors.ts';
import {
  integrityOf,
  type Manifest,
  parseManifest,
  SIGNATURE_FILE,
  verifyManifestSignature,
} from '../manifest/index.ts';
import { fetchBytes } from '../runtime/net/fetch-bytes.ts';
import type { ResolvedHostOptions } from '../runtime/options/host-options.ts';
import type { ResolvedRemote } from '../runtime/options/remote-options.ts';

/** Must match REMOTE_PLACEHOLDER in src/build/types-bundle.ts (the cli may not share code with build at run time). */
const REMOTE_PLACEHOLDER = '__FERRY_REMOTE__';

/** One expose's declarations, with the host's alias substituted. */
export interface FetchedTypes {
  /** `authServiceRemote/tokenValidator` */
  specifier: string;
  /** The declaration text. */
  text: string;
}

export interface RemoteTypes {
  alias: string;
  manifest: Manifest;
  types: FetchedTypes[];
  /** Expose keys the manifest lists without declarations. */
  untyped: string[];
}

/**
 * Fetches and verifies the declaration files of one remote.
 *
 * @example
 * ```ts
 * const options = resolveHostOptions(config);
 * const { types } = await fetchRemoteTypes(options, options.remotes.get('authService')!);
 * ```
 */
export async function fetchRemoteTypes(host: ResolvedHostOptions, remote: ResolvedRemote): Promise<RemoteTypes> {
  const common = { timeout: remote.timeouts.request, remote: remote.alias, fetch: host.fetch };
  const signed = remote.publicKeys.length > 0;
  const [response, signature] = await Promise.all([
    fetchBytes(remote.manifestUrl, { ...common, maxBytes: host.maxManifestBytes, what: 'manifest' }),
    signed
      ? fetchBytes(new URL(SIGNATURE_FILE, remote.manifestUrl).href, {
          ...common,
          maxBytes: 4096,
          what: 'manifest signature',
          allowNotFound: true,
        })
      : undefined,
  ]);
  if (signature) {
    verifyManifestSignature(response.bytes, signature.status === 404 ? undefined : signature.bytes, remote.publicKeys, {
      remote: remote.alias,
      url: remote.manifestUrl,
    });
  }
  const manifest = parseManifest(response.bytes, remote.manifestUrl);
  if (manifest.name !== remote.name) {
    throw new ManifestMismatchError(
      `The manifest at ${remote.manifestUrl} belongs to remote "${manifest.name}", but the host expects ` +
        `"${remote.name}" there. Fix the URL of remotes.${remote.alias}, or set its \`name\` if the key is an alias.`,
      { remote: remote.alias, url: remote.manifestUrl },
    );
  }
  const types: FetchedTypes[] = [];
  const untyped: string[] = [];
  for (const [key, expose] of Object.entries(manifest.ferry.exposes)) {
    if (expose.types === undefined) {
      untyped.push(key);
      continue;
    }
    const bytes = await fetchVerified(remote, manifest, expose.types, host);
    const specifier = key === '.' ? remote.alias : `${remote.alias}/${key.slice(2)}`;
    types.push({ specifier, text: Buffer.from(bytes).toString('utf8').replaceAll(REMOTE_PLACEHOLDER, remote.alias) });
  }
  return { alias: remote.alias, manifest, types, untyped };
}

async function fetchVerified(
  remote: ResolvedRemote,
  manifest: Manifest,
  name: string,
  host: ResolvedHostOptions,
): Promise<Uint8Array> {
  const entry = manifest.ferry.files[name]!;
  const url = new URL(name, remote.manifestUrl).href;
  const { bytes } = await fetchBytes(url, {
    timeout: remote.timeouts.request,
    maxBytes: entry.size,
    remote: remote.alias,
    what: `file ${name}`,
    fetch: host.fetch,
  });
  const actual = integrityOf(bytes);
  if (bytes.byteLength !== entry.size || actual !== entry.integrity) {
    throw new IntegrityError(
      `File ${name} of remote "${remote.alias}" at ${url} does not match its manifest (expected ${entry.size} ` +
        `bytes with ${entry.integrity}, got ${bytes.byteLength} bytes with ${actual}); it was not used. Redeploy ` +
        'the whole `ferry build` output folder.',
      { remote: remote.alias, url, file: name },
    );
  }
  return bytes;
}
