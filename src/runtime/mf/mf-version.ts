/**
 * What a version of a Module Federation remote adds to the evaluation of an ordinary one: the container's `fs` and
 * packages (container-files.ts), and containment of its asynchronous failures around `init()`, `get()` and the
 * factory (containment.ts). Used by version/remote-version.ts for a remote with `type: 'module-federation'`.
 */
import type { Manifest } from '../../manifest/index.ts';
import type { ResolvedRemote } from '../options/remote-options.ts';
import { type ContainerHooks, createContainerHooks } from './container-files.ts';
import { contain } from './containment.ts';

export interface MfEvaluation {
  container: ContainerHooks;
  /** Runs one step of the container's evaluation with its asynchronous failures contained. */
  contain<T>(work: () => Promise<T>, what: string): Promise<T>;
}

/** The MF additions for a version, or undefined for a ferry remote. */
export function mfEvaluationOf(
  remote: ResolvedRemote,
  version: { manifest: Manifest; folder: string; prefix: string },
  files: { verified(name: string): Uint8Array | undefined; fetch(name: string): Promise<Uint8Array> },
): MfEvaluation | undefined {
  if (remote.type !== 'module-federation') return undefined;
  const { manifest, folder, prefix } = version;
  const describe = { alias: remote.alias, url: remote.manifestUrl, version: manifest.ferry.version };
  return {
    container: createContainerHooks({
      alias: remote.alias,
      url: remote.manifestUrl,
      lockFile: remote.lockFile,
      unpinned: remote.unpinned,
      manifest,
      folder,
      root: remote.root,
      verified: (name) => files.verified(name),
      fetch: (name) => files.fetch(name),
    }),
    contain: (work, what) => contain(work, [prefix, folder], { ...describe, what }),
  };
}
