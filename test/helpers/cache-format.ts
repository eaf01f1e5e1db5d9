/**
 * Rewrites a host's cache folder as ferry wrote it before records held their manifests (format 1): each record names
 * its manifest and signature by integrity, and their bytes are content entries in `files/`. Tests of caches written
 * by an earlier ferry start from a real cache and turn it into that.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { integrityOf } from '../../src/manifest/index.ts';
import { entryNameOf } from '../../src/runtime/cache/file-cache.ts';

interface HeldBytes {
  integrity: string;
  base64: string;
}

/**
 * Turns every record of format 2 in `cacheDir` into format 1; returns the entry names written to `files/`. `earlier`:
 * the earlier manifests the records' histories name, each with its signature, which format 1 kept in `files/` too
 * (and named in the history).
 */
export async function toFormat1(
  cacheDir: string,
  earlier: Array<{ manifest: Uint8Array; signature?: Uint8Array }> = [],
): Promise<string[]> {
  const written: string[] = [];
  const signatureOf = new Map<string, string>();
  for (const { manifest, signature } of earlier) {
    for (const bytes of signature ? [manifest, signature] : [manifest]) {
      const entry = entryNameOf(integrityOf(bytes));
      await writeFile(join(cacheDir, 'files', entry), bytes, { mode: 0o600 });
      written.push(entry);
    }
    if (signature) signatureOf.set(integrityOf(manifest), integrityOf(signature));
  }
  const records = join(cacheDir, 'remotes');
  for (const name of await readdir(records)) {
    if (!name.endsWith('.json')) continue;
    const record = JSON.parse(await readFile(join(records, name), 'utf8'));
    if (record.formatVersion !== 2) continue;
    const hold = async (held: HeldBytes | undefined) => {
      if (!held) return undefined;
      const entry = entryNameOf(held.integrity);
      await writeFile(join(cacheDir, 'files', entry), Buffer.from(held.base64, 'base64'), { mode: 0o600 });
      written.push(entry);
      return held.integrity;
    };
    const manifest = await hold(record.manifest);
    const signature = await hold(record.signature);
    const { previous, ...current } = record;
    const format1 = {
      ...current,
      formatVersion: 1,
      manifest,
      ...(signature === undefined ? {} : { signature }),
      // An entry of format 2's history lists its files; format 1's named its manifest, which is not kept here.
      ...(previous
        ? {
            previous: previous.map(({ files: _files, ...version }: { files?: string[]; manifest: string }) => {
              const signed = signatureOf.get(version.manifest);
              return signed ? { ...version, signature: signed } : version;
            }),
          }
        : {}),
    };
    await writeFile(join(records, name), `${JSON.stringify(format1, null, 2)}\n`);
  }
  return [...new Set(written)].sort();
}
