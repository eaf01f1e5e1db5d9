/**
 * Fixtures for the trust tests: a hand-built remote (test/helpers/remote-output.ts) whose container and expose both
 * record that they ran (a canary), signed with a fresh key (signManifest), served by a real loopback server, and
 * republishable with another release, expiry or key.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { integrityOf, type Manifest, publicKeyOf, signManifest } from '../../src/manifest/index.ts';
import { createRequestHandler } from '../../src/server/index.ts';
import { type Loopback, type Override, startLoopback } from './loopback.ts';
import { type HandBuiltRemote, writeRemoteOutput } from './remote-output.ts';
import { createTempProject, type TempProject } from './temp-project.ts';

const canaries = globalThis as unknown as Record<string, number | undefined>;
let counter = 0;

/** Host options that keep test output quiet. */
export const quiet = { onWarning: () => {} };

/** A fresh Ed25519 key pair: the private key object and the public key string hosts pin. */
export function newKeys(): { privateKey: KeyObject; publicKey: string } {
  const { privateKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey: publicKeyOf(privateKey) };
}

export interface PublishOptions extends Partial<HandBuiltRemote> {
  /** Sign with this key instead of the remote's own; `null` writes no signature file. */
  signWith?: KeyObject | null;
}

export interface SignedRemote extends AsyncDisposable {
  project: TempProject;
  server: Loopback;
  manifestUrl: string;
  /** The remote's own public key (what a host should pin). */
  publicKey: string;
  privateKey: KeyObject;
  /** A line of JavaScript that counts a run of remote code, for exposes a test writes itself. */
  canary: string;
  /** How many times remote code (container or expose) ran since the last reset. */
  runs(): number;
  resetRuns(): void;
  /** The current output, file name -> bytes, including the manifest and (if any) its signature. */
  files(): Promise<Map<string, Buffer>>;
  /** Rewrites the output folder (new release, expiry, code or key); the server serves it from then on. */
  publish(options?: PublishOptions): Promise<Manifest>;
}

/**
 * A signed hand-built remote named `authService` (unless `name` says otherwise) exposing `./x`, served on loopback.
 *
 * @example
 * ```ts
 * await using remote = await createSignedRemote({ release: 5 });
 * const host = createHost({ name: 'h', remotes: { authService: { url: remote.manifestUrl, publicKey: remote.publicKey } } });
 * ```
 */
export async function createSignedRemote(initial: PublishOptions = {}): Promise<SignedRemote> {
  const project = await createTempProject({});
  const server = await startLoopback(project.dir);
  const { privateKey, publicKey } = newKeys();
  const key = `__ferryTrustCanary${process.pid}_${counter++}`;
  const canary = `globalThis[${JSON.stringify(key)}] = (globalThis[${JSON.stringify(key)}] ?? 0) + 1;\n`;
  let last: PublishOptions = {};

  async function publish(options: PublishOptions = {}): Promise<Manifest> {
    last = { ...last, ...options };
    const { signWith, ...spec } = last;
    const name = spec.name ?? 'authService';
    const { manifest } = await writeRemoteOutput(project.dir, {
      exposes: { './x': { code: `${canary}exports.answer = 42;\n` } },
      ...spec,
      name,
    });
    // The container records that it ran too, so "nothing was evaluated" covers every file.
    const entryFile = join(project.dir, manifest.ferry.remoteEntry);
    const entry = Buffer.concat([Buffer.from(canary), await readFile(entryFile)]);
    await writeFile(entryFile, entry);
    manifest.ferry.files[manifest.ferry.remoteEntry] = { size: entry.byteLength, integrity: integrityOf(entry) };
    const bytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
    await writeFile(join(project.dir, 'mf-manifest.json'), bytes);
    const signer = signWith === undefined ? privateKey : signWith;
    const signatureFile = join(project.dir, 'mf-manifest.json.sig');
    if (signer === null) await rm(signatureFile, { force: true });
    else await writeFile(signatureFile, signManifest(bytes, signer));
    return manifest;
  }

  await publish(initial);
  const remote: SignedRemote = {
    project,
    server,
    manifestUrl: `${server.url}mf-manifest.json`,
    canary,
    publicKey,
    privateKey,
    runs: () => canaries[key] ?? 0,
    resetRuns: () => {
      canaries[key] = 0;
    },
    async files() {
      const manifest = JSON.parse(await readFile(join(project.dir, 'mf-manifest.json'), 'utf8')) as Manifest;
      const names = ['mf-manifest.json', 'mf-manifest.json.sig', ...Object.keys(manifest.ferry.files)];
      const out = new Map<string, Buffer>();
      for (const name of names) {
        const bytes = await readFile(join(project.dir, name)).catch(() => undefined);
        if (bytes) out.set(name, bytes);
      }
      return out;
    },
    publish,
    async [Symbol.asyncDispose]() {
      await server.close();
      await project.remove();
    },
  };
  return remote;
}

/** A release whose expose `./x` exports `answer = value` (and records that it ran). */
export function answering(remote: SignedRemote, value: number): PublishOptions {
  return { exposes: { './x': { code: `${remote.canary}exports.answer = ${value};\n` } } };
}

/**
 * ferry's own request handler (with its push channel) answering every request of a loopback server (which logs each
 * request's path in `requests`), after `first`, which may answer some requests itself (returns true when it did);
 * returns a function that stops the handler's event streams.
 */
export function serveWithFerry(server: Loopback, dir: string, first?: Override): () => void {
  const handler = createRequestHandler({ dir });
  server.override = async (req, res) => {
    if (first && (await first(req, res))) return true;
    handler(req, res);
    return true;
  };
  return () => handler.close();
}
