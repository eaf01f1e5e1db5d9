/**
 * The host's content-addressed disk cache: verified bytes stored under their `sha384-` integrity in
 * `<cacheDir>/files/`, and per remote a record of the last manifest the host accepted (its bytes and signature are in
 * the content store too, plus its ETag and when it was fetched) in `<cacheDir>/remotes/`. Every write is atomic
 * (temporary file + rename). Every read is hashed again: an entry whose bytes no longer match its name is deleted
 * and reported, and the caller fetches the file instead — a corrupt entry is never run.
 *
 * Nothing here is trusted more than the network: a cached manifest goes through the same signature, name, expiry and
 * rollback checks as a fetched one, and cached files are checked against that manifest.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { integrityOf } from '../manifest/index.ts';

/** What the host remembers about a remote's last accepted manifest. */
export interface ManifestRecord {
  formatVersion: 1;
  /** The remote's manifest URL. */
  url: string;
  /** Integrity of the manifest bytes (its content-store key). */
  manifest: string;
  /** Integrity of the signature file, when the manifest was signed. */
  signature?: string;
  /** The manifest's ETag, for conditional requests. */
  etag?: string;
  /** When the remote last served (or confirmed with a 304) this manifest, epoch ms. */
  fetchedAt: number;
}

const INTEGRITY = /^sha384-[A-Za-z0-9+/]{64}$/;

export class FileCache {
  readonly dir: string;
  readonly #warn: (code: string, message: string) => void;

  /**
   * @example
   * ```ts
   * const cache = new FileCache('/var/cache/user-service/ferry', (code, message) => console.warn(code, message));
   * const bytes = await cache.read('sha384-…'); // undefined when absent or corrupt
   * ```
   */
  constructor(dir: string, warn: (code: string, message: string) => void) {
    this.dir = dir;
    this.#warn = warn;
  }

  /** The path of a content entry: the integrity in base64url, split by its first two characters. */
  pathOf(integrity: string): string {
    const name = integrity.slice(7).replaceAll('+', '-').replaceAll('/', '_');
    return join(this.dir, 'files', name.slice(0, 2), name);
  }

  /** The bytes stored under `integrity`, hashed again; undefined when absent, unreadable or corrupt (then deleted). */
  async read(integrity: string): Promise<Uint8Array | undefined> {
    if (!INTEGRITY.test(integrity)) return undefined;
    const path = this.pathOf(integrity);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch {
      return undefined;
    }
    if (integrityOf(bytes) === integrity) return bytes;
    await rm(path, { force: true }).catch(() => {});
    this.#warn(
      'FERRY_CACHE_ENTRY_CORRUPT',
      `The cached file ${path} no longer matches its hash ${integrity}; it was deleted and not used (the file is ` +
        "fetched from the remote instead). If nobody changed it, check the disk and who else can write the host's " +
        'cache folder.',
    );
    return undefined;
  }

  /** Stores verified bytes under their integrity (atomically; an existing entry is replaced by identical bytes). */
  async write(integrity: string, bytes: Uint8Array): Promise<void> {
    if (!INTEGRITY.test(integrity)) return;
    const path = this.pathOf(integrity);
    await this.#atomicWrite(path, bytes);
  }

  /** The record for a remote (keyed by its name and manifest URL), or undefined. */
  async readRecord(remoteName: string, url: string): Promise<ManifestRecord | undefined> {
    try {
      const record = JSON.parse(await readFile(this.#recordPath(remoteName, url), 'utf8')) as Partial<ManifestRecord>;
      if (
        record.formatVersion !== 1 ||
        record.url !== url ||
        typeof record.manifest !== 'string' ||
        typeof record.fetchedAt !== 'number'
      ) {
        return undefined;
      }
      return record as ManifestRecord;
    } catch {
      return undefined;
    }
  }

  /** Replaces the record for a remote. */
  async writeRecord(remoteName: string, record: ManifestRecord): Promise<void> {
    await this.#atomicWrite(this.#recordPath(remoteName, record.url), `${JSON.stringify(record, null, 2)}\n`);
  }

  #recordPath(remoteName: string, url: string): string {
    const key = createHash('sha256').update(`${remoteName}\n${url}`).digest('hex').slice(0, 32);
    return join(this.dir, 'remotes', `${remoteName}-${key}.json`);
  }

  async #atomicWrite(path: string, data: Uint8Array | string): Promise<void> {
    await mkdir(join(path, '..'), { recursive: true, mode: 0o700 });
    const temporary = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await writeFile(temporary, data, { mode: 0o600 });
      await rename(temporary, path);
    } catch (error) {
      await rm(temporary, { force: true }).catch(() => {});
      throw error;
    }
  }
}
