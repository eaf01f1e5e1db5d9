/**
 * A remote's fallback copy of a shared module as a share-scope provider. Its file is fetched and verified (through
 * the remote's own verified fetch: size and sha384 from the manifest) only when `get()` is called, that is only when
 * the scope chose this copy, or when the manifest is registered if the remote declared the package `eager`.
 *
 * The fallback bundle is self-contained (ferry build bundled the package); its `require` reaches Node builtins only.
 */
import { createRequire, isBuiltin } from 'node:module';
import { UndeclaredDependencyError } from '../../common/errors.ts';
import type { SharedEntry } from '../../manifest/index.ts';
import { evaluateCommonJs } from '../evaluate/commonjs.ts';
import { type SharedProvider, setDeepLoader } from './share-scope.ts';

const builtinRequire = createRequire(import.meta.url);

/** The remote whose fallbacks are provided, as a {@link RemoteVersion} offers it. */
export interface FallbackSource {
  /** The remote's alias on the host: the provider's `from`. */
  alias: string;
  /** `ferry://authService@1.0.0/`: the prefix of the compiled file's name, as stack traces show it. */
  prefix: string;
  /** Fetches a file of the remote's manifest and checks it against its size and integrity. */
  fetchVerified(file: string): Promise<Uint8Array>;
}

/**
 * The provider of `source`'s fallback for the shared module `key`.
 */
export function fallbackProvider(
  source: FallbackSource,
  key: string,
  entry: Pick<SharedEntry, 'eager'>,
  file: string,
): SharedProvider {
  let getters: Promise<Record<string, () => unknown>> | undefined;
  const { alias } = source;
  // Dropped once the copy is loaded: a loaded singleton outlives the version that provided it, and must not keep that
  // version (its fetched files, its compiled code) alive.
  let origin: FallbackSource | undefined = source;
  const evaluate = async () => {
    const from = origin!;
    const bytes = await from.fetchVerified(file);
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
    const record = evaluateCommonJs(text, from.prefix + file, (id) => {
      if (isBuiltin(id)) return builtinRequire(id);
      throw new UndeclaredDependencyError(
        `The fallback copy of "${key}" from remote "${alias}" (${file}) requires "${id}", which it should have ` +
          'bundled. Rebuild the remote with `ferry build`.',
        { remote: alias, file, package: id },
      );
    });
    return record.exports as Record<string, () => unknown>;
  };
  const load = () => {
    getters ??= evaluate();
    getters.then(
      () => {
        origin = undefined;
      },
      () => {
        getters = undefined;
      },
    );
    return getters;
  };
  let modules: Record<string, () => unknown> | undefined;
  const provider: SharedProvider = {
    from: alias,
    eager: entry.eager,
    async get() {
      modules = await load();
      return () => modules![key]!();
    },
  };
  setDeepLoader(provider, (id) => {
    const getter = modules?.[id];
    if (typeof getter !== 'function') {
      throw new UndeclaredDependencyError(
        `The fallback copy of "${key}" from remote "${alias}" does not include "${id}" (it was built with ` +
          `the imports the remote's exposes made). Rebuild the remote, or provide "${key}" from the host.`,
        { remote: alias, file, package: id },
      );
    }
    return getter();
  });
  return provider;
}
