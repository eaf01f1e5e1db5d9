/**
 * How a Module Federation container's chunk loading is routed through ferry. webpack and rspack containers load their
 * chunks in one of three ways in Node, and each is given ferry's verified bytes:
 *
 * - `require` chunk loading (webpack `target: 'node'`): `require('./chunk.js')` — answered by ferry's scoped `require`
 *   from the version's verified files (evaluate/container.ts);
 * - `async-node` chunk loading (webpack/rspack `target: 'async-node'`, @module-federation/enhanced, and the
 *   `readFileVm` loader of @module-federation/node's UniversalFederationPlugin): `fs.readFile(path.join(__dirname,
 *   chunk))` then `vm` — answered by the `fs` this module gives the container, which serves files under the version's
 *   folder (the container's `__dirname`) from bytes fetched through ferry's client and checked against the lock;
 *   nothing is read from disk there;
 * - HTTP loading by the container itself (its `httpVmStrategy`, `loadScriptNode`) — never reached for a locked file:
 *   `existsSync` answers true for every script name under the folder, so the container reads it through this `fs`,
 *   and a file the lock does not list fails that read with a LockError instead.
 *
 * Packages the container `require`s (a build with `externals`, such as the article's `nodeExternals()`): Module
 * Federation's own runtime (`@module-federation/runtime`, `/sdk`, …) comes from the host's installed copy — the one
 * documented exception to "never the host's node_modules", since it is the protocol's runtime, like ferry itself —
 * and every other package only from the share scope (the lock lists them; evaluate/container.ts resolves them).
 */
import * as realFs from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import { join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LockError, UndeclaredDependencyError, UnsupportedContainerError } from '../../common/errors.ts';
import type { Manifest } from '../../manifest/index.ts';

/** What the routing needs of the version. */
export interface ContainerFilesSource {
  alias: string;
  url: string;
  lockFile: string;
  unpinned: boolean;
  manifest: Manifest;
  /** The version's folder: the container's `__dirname`. Nothing is written there for an MF remote. */
  folder: string;
  /** The host's root, whose node_modules provide Module Federation's runtime packages. */
  root: string;
  verified(name: string): Uint8Array | undefined;
  fetch(name: string): Promise<Uint8Array>;
}

/** The hooks evaluate/container.ts calls for an MF version. */
export interface ContainerHooks {
  /** A replacement for a builtin module (`fs`, `fs/promises`), or undefined for the real one. */
  builtin(id: string): unknown;
  /** A package the container requires that is neither a file nor a shared package: `{ value }`, or throws. */
  require(from: string, id: string): { value: unknown };
}

/** The Module Federation runtime packages a container built with `externals` requires from its host. */
export const MF_RUNTIME_PACKAGE =
  /^@module-federation\/(?:runtime|runtime-core|runtime-tools|sdk|webpack-bundler-runtime|error-codes|node)(?:\/|$)/;

type Encoding = BufferEncoding | { encoding?: BufferEncoding | null } | null | undefined;

const encodingOf = (options: Encoding) => (typeof options === 'string' ? options : (options?.encoding ?? undefined));

/**
 * `base` with `own`'s properties defined over it (an object whose prototype is `base`): a module as a container
 * sees it. Defined, not assigned: a module's getter-only properties (`fs.promises`) cannot be assigned over.
 */
export function overlay<T extends object>(base: T, own: object): T {
  return Object.create(base, Object.getOwnPropertyDescriptors(own)) as T;
}

/** Creates the hooks for one MF version. */
export function createContainerHooks(source: ContainerFilesSource): ContainerHooks {
  const { folder, manifest, alias, url } = source;
  const files = manifest.ferry.files;
  /** The file name (relative, `/`-separated) of a path under the version's folder, else undefined. */
  const nameOf = (path: unknown): string | undefined => {
    let text: string;
    if (typeof path === 'string') text = path;
    else if (path instanceof URL && path.protocol === 'file:') text = fileURLToPath(path);
    else if (Buffer.isBuffer(path)) text = path.toString('utf8');
    else return undefined;
    const inside = relative(folder, resolve(text));
    if (inside === '' || inside.startsWith('..') || resolve(folder, inside) !== resolve(text)) return undefined;
    return inside.split(sep).join('/');
  };
  const notLocked = (name: string) =>
    new LockError(
      source.unpinned
        ? `Remote "${alias}" (${url}) asked for ${name}, which its mf-manifest.json does not list for any expose; ` +
            'ferry serves an unpinned remote only the files its manifest lists. Rebuild the remote with `manifest: true`.'
        : `Remote "${alias}" (${url}) asked for ${name}, which is not in ${source.lockFile}: nothing of it was ` +
            'fetched or run. If the remote was redeployed, review it and run `ferry lock` in the host project.',
      { remote: alias, url, file: name, reason: 'not-in-lock' },
    );
  const read = async (name: string) => {
    if (!Object.hasOwn(files, name)) throw notLocked(name);
    return Buffer.from(await source.fetch(name));
  };
  const readSync = (name: string) => {
    if (!Object.hasOwn(files, name)) throw notLocked(name);
    const bytes = source.verified(name);
    if (!bytes) {
      throw new UndeclaredDependencyError(
        `Remote "${alias}" (${url}) read ${name} synchronously before ferry had fetched and verified it; only the ` +
          'files the lock lists for an expose are fetched before it runs. Run `ferry lock` again so the lock lists it.',
        { remote: alias, url, file: name },
      );
    }
    return Buffer.from(bytes);
  };
  const encode = (bytes: Buffer, options: Encoding) => {
    const encoding = encodingOf(options);
    return encoding ? bytes.toString(encoding) : bytes;
  };
  const promises = overlay(realFs.promises, {
    readFile(path: unknown, options?: Encoding) {
      const name = nameOf(path);
      if (name === undefined) return realFs.promises.readFile(path as string, options as BufferEncoding);
      return read(name).then((bytes) => encode(bytes, options));
    },
  });
  const fs = overlay(realFs, {
    promises,
    existsSync(path: unknown) {
      const name = nameOf(path);
      if (name === undefined) return realFs.existsSync(path as string);
      // Every script name answers true, so a container reads even an unlocked chunk through here (and is refused)
      // instead of fetching it over HTTP itself.
      return Object.hasOwn(files, name) || /\.[cm]?js$/.test(name);
    },
    readFile(path: unknown, ...rest: unknown[]) {
      const callback = rest.pop() as (error: Error | null, data?: unknown) => void;
      const options = rest[0] as Encoding;
      const name = nameOf(path);
      if (name === undefined) {
        (realFs.readFile as (...args: unknown[]) => void)(path, ...rest, callback);
        return;
      }
      read(name).then(
        (bytes) => callback(null, encode(bytes, options)),
        (error: Error) => callback(error),
      );
    },
    readFileSync(path: unknown, options?: Encoding) {
      const name = nameOf(path);
      if (name === undefined) return realFs.readFileSync(path as string, options as BufferEncoding);
      return encode(readSync(name), options);
    },
  });
  let hostRequire: NodeRequire | undefined;
  return {
    builtin(id) {
      const bare = id.startsWith('node:') ? id.slice(5) : id;
      if (bare === 'fs') return fs;
      if (bare === 'fs/promises') return promises;
      return undefined;
    },
    require(from, id) {
      if (MF_RUNTIME_PACKAGE.test(id)) {
        hostRequire ??= createRequire(join(source.root, 'package.json'));
        try {
          return { value: hostRequire(id) };
        } catch (error) {
          throw new UnsupportedContainerError(
            `Remote "${alias}" (${url}) requires "${id}" from its host (it was built with \`externals\` that leave ` +
              "Module Federation's runtime out, such as nodeExternals()), and the host has no copy under " +
              `${source.root}: install it in the host (npm install ${id.split('/').slice(0, 2).join('/')}), or build ` +
              'the remote without externals for @module-federation packages (nodeExternals({ allowlist: [/^@module-federation/] })).',
            { remote: alias, url, file: from, package: id, cause: error },
          );
        }
      }
      throw new UndeclaredDependencyError(
        `Remote "${alias}" (${url}, ${from}) requires "${id}", which is not a Node builtin, not a file of the remote ` +
          "and not a shared package resolved for it; ferry never looks it up in the host's node_modules. Declare " +
          `"${id}" in the host's \`shared\` option (the remote was built with it as an external), then run \`ferry lock\` ` +
          'again so the lock lists it among the packages the remote requires.',
        { remote: alias, url, file: from, package: id },
      );
    },
  };
}

/** The bare packages a container's files `require` (its externals): `require("jsonwebtoken")` → `jsonwebtoken`. */
export function requiredPackages(sources: Iterable<string>): string[] {
  const found = new Set<string>();
  const pattern = /\brequire\(\s*\\?["']([^"'\\./][^"'\\]*)\\?["']\s*\)/g;
  for (const text of sources) {
    for (const match of text.matchAll(pattern)) {
      const id = match[1]!;
      if (isBuiltin(id) || MF_RUNTIME_PACKAGE.test(id)) continue;
      const parts = id.split('/');
      const pkg = id.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
      if (/^(?:@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*$/i.test(pkg)) found.add(pkg);
    }
  }
  return [...found].sort();
}
