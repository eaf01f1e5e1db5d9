/**
 * The shared-package fallbacks of earlier builds, kept in the project's `node_modules/.cache/ferry/fallbacks/` (where
 * build tools keep their caches, beside the packages they were bundled from), so a rebuild does not bundle an
 * unchanged package again: bundling jsonwebtoken's fallback was a fifth of a `ferry build` (bench/ROUNDS.md).
 *
 * An entry is found by a key that covers everything esbuild was given (the generated entry, every option, esbuild's
 * and ferry's versions) and the project's install state (the lockfiles and the package managers' own records of
 * node_modules, from the project root up, by size, time and inode), so an install that changes which file a request
 * resolves to is a miss even when no file esbuild read changed. It holds the SHA-256 of every file esbuild read, each
 * read and hashed again before the entry is used, with the package.json of each package they are in: a file edited
 * in node_modules (a patch, a rebuilt link) is a miss too.
 *
 * The cache is as trusted as node_modules itself, which the fallback is bundled from: whoever can write one can
 * write the other. Unreadable, corrupt or foreign entries are misses, never errors; a failed write only loses the
 * entry. Without a node_modules folder in the project root there is no cache.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, type Stats, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { writeFileAtomic } from '../common/atomic-write.ts';
import { ferryVersion } from '../common/ferry-version.ts';

/** The folder under the project root's node_modules. */
export const FALLBACK_CACHE_DIR = join('.cache', 'ferry', 'fallbacks');

/** Entries kept; the oldest written are removed beyond this. */
const MAX_ENTRIES = 64;

/** The files whose bytes say what an install left in node_modules, looked for in the root and each folder above. */
const INSTALL_STATE = [
  'package.json',
  'package-lock.json',
  'npm-shrinkwrap.json',
  'yarn.lock',
  'pnpm-lock.yaml',
  'bun.lock',
  'bun.lockb',
  'tsconfig.json',
  join('node_modules', '.package-lock.json'),
  join('node_modules', '.modules.yaml'),
  join('node_modules', '.yarn-state.yml'),
];

const FORMAT = 1;

interface Entry {
  format: typeof FORMAT;
  /** The files esbuild read, relative to the project root, with the SHA-256 of their bytes (hex). */
  inputs: Record<string, string>;
  /** The fallback's code, or null when its graph reaches a native addon (the build makes no copy). */
  code: string | null;
}

const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

/**
 * What the install left, from `root` up: each state file's identity (size, modification time, inode). A lockfile at a
 * monorepo's root can be megabytes, and any install that changes it writes it again, so its identity is enough.
 */
function installState(root: string): string {
  const hash = createHash('sha256');
  for (let dir = root; ; dir = dirname(dir)) {
    for (const name of INSTALL_STATE) {
      const file = join(dir, name);
      let stat: Stats;
      try {
        stat = statSync(file);
      } catch {
        continue; // absent: not part of the state
      }
      if (stat.isFile()) hash.update(`${file}\0${stat.size}\0${stat.mtimeMs}\0${stat.ino}\n`);
    }
    if (dirname(dir) === dir) return hash.digest('hex');
  }
}

/**
 * A project's fallback cache.
 *
 * @example
 * ```ts
 * const cache = FallbackCache.open('/srv/auth', esbuild.version);
 * const hit = cache?.get(options); // the code, null (native), or undefined (a miss)
 * cache?.set(options, Object.keys(result.metafile.inputs), code);
 * ```
 */
export class FallbackCache {
  readonly dir: string;
  readonly #root: string;
  readonly #salt: string;

  /**
   * The cache of the project at `root`, or `undefined` when `root` has no node_modules folder (or ferry's own version
   * cannot be read, which the key needs): the build then bundles every fallback.
   */
  static open(root: string, esbuildVersion: string): FallbackCache | undefined {
    const modules = join(root, 'node_modules');
    if (!existsSync(modules)) return undefined;
    try {
      // `this`, not the class's name: a class that names itself inside its body is renamed when bundled
      // (scripts/build.ts).
      return new this(join(modules, FALLBACK_CACHE_DIR), root, esbuildVersion);
    } catch {
      return undefined;
    }
  }

  private constructor(dir: string, root: string, esbuildVersion: string) {
    this.dir = dir;
    this.#root = root;
    this.#salt = `${FORMAT}\0${ferryVersion()}\0${esbuildVersion}\0${installState(root)}`;
  }

  #file(options: unknown): string {
    return join(this.dir, `${sha256(`${this.#salt}\0${JSON.stringify(options)}`)}.json`);
  }

  /**
   * The fallback an earlier build made with these esbuild options: its code, `null` when it had none (a native
   * addon), or `undefined` when there is no entry or a file it was made from changed.
   */
  get(options: unknown): string | null | undefined {
    let entry: Entry;
    try {
      entry = JSON.parse(readFileSync(this.#file(options), 'utf8')) as Entry;
    } catch {
      return undefined;
    }
    if (entry?.format !== FORMAT || typeof entry.inputs !== 'object' || entry.inputs === null) return undefined;
    if (entry.code !== null && typeof entry.code !== 'string') return undefined;
    for (const [input, hash] of Object.entries(entry.inputs)) {
      try {
        if (sha256(readFileSync(resolve(this.#root, input))) !== hash) return undefined;
      } catch {
        return undefined;
      }
    }
    return entry.code;
  }

  /**
   * Keeps what esbuild made from these options and the files it read (`metafile.inputs`' keys: paths relative to the
   * project root). Nothing is kept when an input is not a file (esbuild's other namespaces): it could not be checked.
   */
  async set(options: unknown, inputs: readonly string[], code: string | null, stdinName: string): Promise<void> {
    const hashes: Record<string, string> = {};
    try {
      for (const input of inputs) {
        if (input === stdinName || input === '<stdin>') continue;
        if (/^[a-z-]+:/i.test(input) && !isAbsolute(input)) return;
        hashes[input] = sha256(readFileSync(resolve(this.#root, input)));
        // The package.json of the package the file is in (a workspace's too): its `main`, `exports` or `browser` say
        // which file a request resolves to, and esbuild does not list it among the inputs.
        const manifest = this.#packageJsonOf(input);
        if (manifest !== undefined && !(manifest in hashes)) {
          hashes[manifest] = sha256(readFileSync(resolve(this.#root, manifest)));
        }
      }
      const entry: Entry = { format: FORMAT, inputs: hashes, code };
      await writeFileAtomic(this.#file(options), JSON.stringify(entry), { createParent: true });
      this.#prune();
    } catch {
      // A read-only node_modules, a file gone since esbuild read it: the next build bundles the package again.
    }
  }

  /** The package.json nearest above `input` (a path relative to the root, as the result is), if there is one. */
  #packageJsonOf(input: string): string | undefined {
    for (let dir = dirname(input); ; dir = dirname(dir)) {
      const candidate = join(dir, 'package.json');
      if (existsSync(resolve(this.#root, candidate))) return candidate;
      if (dir === '.' || dirname(dir) === dir) return undefined;
    }
  }

  /** Removes the oldest entries beyond {@link MAX_ENTRIES} (a package upgrade leaves the old one behind). */
  #prune(): void {
    const names = readdirSync(this.dir).filter((name) => name.endsWith('.json'));
    if (names.length <= MAX_ENTRIES) return;
    const aged = names
      .map((name) => ({ name, mtime: statSync(join(this.dir, name)).mtimeMs }))
      .sort((a, b) => b.mtime - a.mtime);
    for (const { name } of aged.slice(MAX_ENTRIES)) rmSync(join(this.dir, name), { force: true });
  }
}
