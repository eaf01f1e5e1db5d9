/**
 * `ferry lock --record`: pins a Module Federation remote that publishes no `mf-manifest.json` (webpack's own
 * ModuleFederationPlugin, or a build without `manifest: true`) by running it. Nothing lists the chunks such a container
 * needs, so its container is evaluated in the `ferry lock` process (node:vm, like a host does) and each expose is
 * loaded (`init`, `get`, the factory) while every file it asks for is fetched through ferry's HTTP client and
 * recorded: `fs.readFile` of a chunk (async-node chunk loading) is fetched when asked; a synchronous
 * `require('./chunk.js')` (`require` chunk loading) that is not fetched yet is fetched and the whole run starts again
 * with it, until nothing new is asked for. Packages the container requires come from the project's own
 * `node_modules` here (record mode only: the host later gives them only from its share scope).
 *
 * This RUNS THE REMOTE'S CODE in the `ferry lock` process, with its privileges (SECURITY.md): use it only on a remote
 * you would run anyway, and prefer `manifest: true`, which `ferry lock` reads without running anything.
 */
import * as realFs from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import { join, posix, relative, resolve, sep } from 'node:path';
import { UnsupportedContainerError } from '../../common/errors.ts';
import { integrityOf } from '../../manifest/index.ts';
import { evaluateCommonJs, type ModuleRecord } from '../evaluate/commonjs.ts';
import { type FetchLike, fetchBytes } from '../net/fetch-bytes.ts';
import type { ResolvedRemote } from '../options/remote-options.ts';
import { overlay, requiredPackages } from './container-files.ts';
import type { LockedRemote } from './lock-file.ts';
import { fileNameOf } from './mf-remote.ts';

const MAX_FILE = 32 << 20;
/** Runs before giving up: each synchronous chunk not fetched yet costs one. */
const MAX_RUNS = 25;

/** A synchronous read of a file not fetched yet: fetch it and run again. */
class NeedsFile extends Error {
  readonly file: string;
  constructor(file: string) {
    super(`ferry lock --record: ${file} is fetched, then the remote runs again`);
    this.file = file;
  }
}

interface Container {
  init(scope: object): unknown;
  get(key: string): Promise<() => unknown> | (() => unknown);
}

/** Records the files of `remote` (a `remoteEntry.js` URL) that `exposes` need, by running it; see the module doc. */
export async function recordRemote(
  remote: ResolvedRemote,
  options: { fetch?: FetchLike | undefined; exposes: readonly string[]; root: string },
): Promise<LockedRemote> {
  if (options.exposes.length === 0) {
    throw new UnsupportedContainerError(
      `ferry lock --record needs the exposes of remote "${remote.alias}" (${remote.manifestUrl}) to load: give ` +
        "--expose ./tokenValidator (repeatable), or set the remote's `uses` in the host config.",
      { remote: remote.alias, url: remote.manifestUrl },
    );
  }
  const fetched = new Map<string, Uint8Array>();
  const fetchFile = async (name: string) => {
    let bytes = fetched.get(name);
    if (!bytes) {
      ({ bytes } = await fetchBytes(new URL(name, remote.manifestUrl).href, {
        timeout: remote.timeouts.request,
        remote: remote.alias,
        fetch: options.fetch,
        maxBytes: MAX_FILE,
        what: `file ${name}`,
      }));
      fetched.set(name, bytes);
    }
    return bytes;
  };
  const entry = fileNameOf(remote.manifestUrl);
  await fetchFile(entry);
  let lastError: unknown;
  for (let run = 0; run < MAX_RUNS; run++) {
    const needed = new Set<string>();
    const onRejection = (reason: unknown) => {
      if (reason instanceof NeedsFile) needed.add(reason.file);
      else lastError ??= reason;
    };
    process.on('unhandledRejection', onRejection);
    try {
      let timer: NodeJS.Timeout | undefined;
      const exposes = await Promise.race([
        runOnce(entry, fetched, fetchFile, needed, options),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`it did not finish loading within ${remote.timeouts.import} ms`)),
            remote.timeouts.import,
          );
        }),
      ]).finally(() => clearTimeout(timer));
      const files = Object.fromEntries(
        [...fetched].map(([name, bytes]) => [name, { size: bytes.byteLength, integrity: integrityOf(bytes) }]),
      );
      const texts = [...fetched.values()].map((bytes) => Buffer.from(bytes).toString('utf8'));
      return { name: remote.name, entry, exposes, files, packages: requiredPackages(texts) };
    } catch (error) {
      if (needed.size === 0) {
        throw new UnsupportedContainerError(
          `ferry lock --record could not load remote "${remote.alias}" (${remote.manifestUrl}): ` +
            `${(error as Error)?.message ?? String(error)}. Build it with \`manifest: true\` and ` +
            "output.publicPath: 'auto' so that ferry lock reads its chunks from its mf-manifest.json instead.",
          { remote: remote.alias, url: remote.manifestUrl, cause: lastError ?? error },
        );
      }
      await Promise.all([...needed].map(fetchFile));
    } finally {
      // Let rejections of this run surface before the listener goes.
      await new Promise((turn) => setImmediate(turn));
      process.removeListener('unhandledRejection', onRejection);
    }
  }
  throw new UnsupportedContainerError(
    `ferry lock --record gave up on remote "${remote.alias}" (${remote.manifestUrl}) after ${MAX_RUNS} runs. Build ` +
      "it with `manifest: true` and output.publicPath: 'auto'.",
    { remote: remote.alias, url: remote.manifestUrl },
  );
}

/** One run: the container evaluated afresh, each expose loaded; the files each needed (cumulative), by expose. */
async function runOnce(
  entry: string,
  fetched: Map<string, Uint8Array>,
  fetchFile: (name: string) => Promise<Uint8Array>,
  needed: Set<string>,
  options: { exposes: readonly string[]; root: string },
): Promise<Record<string, string[]>> {
  const folder = join(options.root, '.ferry-lock-record');
  const used = new Set<string>();
  const need = (name: string): Uint8Array => {
    const bytes = fetched.get(name);
    if (bytes) {
      used.add(name);
      return bytes;
    }
    needed.add(name);
    throw new NeedsFile(name);
  };
  const nameOf = (path: unknown) => {
    if (typeof path !== 'string') return undefined;
    const inside = relative(folder, resolve(path));
    return inside === '' || inside.startsWith('..') ? undefined : inside.split(sep).join('/');
  };
  const fs = overlay(realFs, {
    existsSync: (path: unknown) => (nameOf(path) === undefined ? realFs.existsSync(path as string) : true),
    readFileSync(path: unknown, encoding?: BufferEncoding) {
      const name = nameOf(path);
      if (name === undefined) return realFs.readFileSync(path as string, encoding as BufferEncoding);
      const bytes = Buffer.from(need(name));
      return encoding ? bytes.toString(encoding) : bytes;
    },
    readFile(path: unknown, ...rest: unknown[]) {
      const callback = rest.pop() as (error: Error | null, data?: unknown) => void;
      const name = nameOf(path);
      if (name === undefined) return (realFs.readFile as (...args: unknown[]) => void)(path, ...rest, callback);
      fetchFile(name).then(
        (bytes) => {
          used.add(name);
          callback(null, rest[0] ? Buffer.from(bytes).toString('utf8') : Buffer.from(bytes));
        },
        (error: Error) => callback(error),
      );
    },
  });
  const hostRequire = createRequire(join(options.root, 'package.json'));
  const records = new Map<string, ModuleRecord>();
  const load = (name: string): unknown => {
    const known = records.get(name);
    if (known) return known.exports;
    const bytes = need(name);
    const path = join(folder, ...name.split('/'));
    const record = evaluateCommonJs(
      Buffer.from(bytes).toString('utf8'),
      `ferry-lock-record://${name}`,
      (id) => requireFrom(name, id),
      { paths: { filename: path, dirname: join(path, '..') } },
    );
    records.set(name, record);
    return record.exports;
  };
  const requireFrom = (from: string, id: string): unknown => {
    if (id === 'fs' || id === 'node:fs') return fs;
    if (isBuiltin(id)) return hostRequire(id);
    if (id.startsWith('./') || id.startsWith('../')) {
      return load(posix.normalize(posix.join(posix.dirname(from), id)));
    }
    return hostRequire(id);
  };
  const container = load(entry) as Container;
  if (typeof container?.init !== 'function' || typeof container.get !== 'function') {
    throw new Error(`${entry} does not export init() and get(); build it with library: { type: 'commonjs-module' }`);
  }
  await container.init(Object.create(null));
  const exposes: Record<string, string[]> = {};
  for (const key of options.exposes) {
    const factory = await container.get(key);
    await factory();
    if (needed.size > 0) throw new NeedsFile([...needed][0]!);
    exposes[key] = [...used].filter((name) => name !== entry);
  }
  return exposes;
}
