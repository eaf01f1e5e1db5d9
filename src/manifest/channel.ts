/**
 * Channels: a small signed document per channel (`channels/<name>.json` beside the manifest, its detached signature
 * in `channels/<name>.json.sig`, made like the manifest's) that says which release the channel serves and, during a
 * rollout, which release a share of hosts (or named hosts) get instead. Releases stay in the output folder side by
 * side (`releases/<release>.json`, with `.sig`), so a channel is only a pointer: static files, served by any server.
 *
 * A document carries a `sequence` that only goes up (hosts refuse one older than they accepted: a replayed pointer)
 * and an `expires` (hosts refuse an expired one: a frozen pointer). Which hosts are in a rollout is decided by each
 * host from its own stable id: `bucketOf(hostId, remote, channel)` is a number in [0, 100), the same on every restart,
 * and a host is in the rollout when its bucket is below `percent` — raising the percentage only ever adds hosts.
 */
import { createHash } from 'node:crypto';
import { InvalidManifestError } from '../common/errors.ts';
import { REMOTE_NAME } from './parse.ts';

/** The folder of a build output that holds the channel documents. */
export const CHANNELS_DIR = 'channels';
/** The folder of a build output that keeps every release's manifest (and signature). */
export const RELEASES_DIR = 'releases';
/** A channel name: letters, digits, `-` and `_`. */
export const CHANNEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** A rollout in progress: a share of hosts, and hosts by id, get `release` instead of the channel's. */
export interface Rollout {
  release: number;
  /** 0 to 100: the share of hosts (by bucket) that get the release. */
  percent: number;
  /** Host ids that get the release whatever their bucket. */
  hosts?: string[];
}

/** What a channel serves. */
export interface ChannelDocument {
  formatVersion: 1;
  /** The remote's name (as in its manifest). */
  remote: string;
  channel: string;
  /** Goes up with every document of this channel. */
  sequence: number;
  issuedAt: string;
  expires: string;
  /** The release every host gets (outside a rollout). */
  release: number;
  /** The release the channel served before `release` (what `ferry release rollback` goes back to). */
  previous?: number;
  rollout?: Rollout;
}

/** The file names of a channel's document and signature. */
export function channelFiles(channel: string): { document: string; signature: string } {
  return { document: `${CHANNELS_DIR}/${channel}.json`, signature: `${CHANNELS_DIR}/${channel}.json.sig` };
}

/** The file names of a kept release's manifest and signature. */
export function releaseFiles(release: number): { manifest: string; signature: string } {
  return { manifest: `${RELEASES_DIR}/${release}.json`, signature: `${RELEASES_DIR}/${release}.json.sig` };
}

/** A host's bucket for a channel of a remote: a number in [0, 100) from its id, stable across restarts. */
export function bucketOf(hostId: string, remote: string, channel: string): number {
  const digest = createHash('sha256').update(`${hostId}\n${remote}\n${channel}`).digest();
  return (digest.readUInt32BE(0) % 10_000) / 100;
}

/** The release a host gets from a channel document, and why. */
export function releaseFor(
  document: ChannelDocument,
  hostId: string,
): { release: number; bucket: number; inRollout: boolean } {
  const bucket = bucketOf(hostId, document.remote, document.channel);
  const rollout = document.rollout;
  const inRollout = rollout !== undefined && (bucket < rollout.percent || (rollout.hosts ?? []).includes(hostId));
  return { release: inRollout ? rollout!.release : document.release, bucket, inRollout };
}

const isRelease = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value > 0;

/** Parses a channel document's bytes (`source` names it in errors); throws InvalidManifestError. */
export function parseChannelDocument(bytes: Uint8Array, source: string): ChannelDocument {
  const fail = (why: string): never => {
    throw new InvalidManifestError(
      `The channel document ${source} ${why}. Write channel documents with \`ferry release promote\` and serve the ` +
        'output folder unchanged.',
      { url: source },
    );
  };
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return fail('is not valid JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return fail('is not an object');
  if (doc['formatVersion'] !== 1) fail('has a formatVersion other than 1');
  if (typeof doc['remote'] !== 'string' || !REMOTE_NAME.test(doc['remote'])) fail('has no valid remote name');
  if (typeof doc['channel'] !== 'string' || !CHANNEL_NAME.test(doc['channel'])) fail('has no valid channel name');
  if (!isRelease(doc['sequence'])) fail('has no positive whole sequence');
  for (const field of ['issuedAt', 'expires']) {
    if (typeof doc[field] !== 'string' || Number.isNaN(Date.parse(doc[field] as string))) fail(`has no valid ${field}`);
  }
  if (!isRelease(doc['release'])) fail('names no valid release');
  if (doc['previous'] !== undefined && !isRelease(doc['previous'])) fail('has an invalid previous release');
  const rollout = doc['rollout'] as Record<string, unknown> | undefined;
  if (rollout !== undefined) {
    if (typeof rollout !== 'object' || rollout === null) fail('has an invalid rollout');
    const percent = rollout['percent'];
    if (!isRelease(rollout['release'])) fail('has a rollout without a valid release');
    if (typeof percent !== 'number' || !(percent >= 0 && percent <= 100)) fail('has a rollout percent outside 0–100');
    const hosts = rollout['hosts'];
    if (hosts !== undefined && (!Array.isArray(hosts) || hosts.some((host) => typeof host !== 'string'))) {
      fail('has rollout hosts that are not a list of host ids');
    }
  }
  return doc as unknown as ChannelDocument;
}
