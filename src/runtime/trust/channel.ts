/**
 * Following a channel: before the manifest, the host fetches the channel's signed document
 * (`channels/<name>.json` and `.sig` beside the remote's manifest), verifies it with the keys it pins for the remote,
 * refuses one that has expired (a frozen pointer) or is older than one it accepted (a replayed pointer, by its
 * `sequence`, remembered across restarts in `<cache.dir>/channels.json`), and decides which kept release this host
 * gets: the channel's, the rollout's when the host's bucket (or its id) is in it, its `pin`, or the channel's own
 * release again when this host halted the rollout's (a canary that failed its error budget here).
 *
 * The release floor and the channel sequence: a host that follows a channel takes the release its newest accepted
 * document names — and only that one — so an operator's rollback (a newer document naming an older release) is
 * accepted, while a replayed old document (lower sequence) and an old release served in place of the named one
 * (mismatch) are refused. The channel's sequence is the floor; releases are not compared with each other.
 */
import { ChannelError } from '../../common/errors.ts';
import {
  type ChannelDocument,
  channelFiles,
  integrityOf,
  parseChannelDocument,
  releaseFiles,
  releaseFor,
} from '../../manifest/index.ts';
import type { Fetcher } from '../net/remote-client.ts';
import type { ResolvedRemote } from '../options/remote-options.ts';
import type { RemoteRecord } from '../remotes.ts';
import type { ReleaseStore } from './release-store.ts';
import { verifySignatureFile } from './signature-file.ts';

/** The file name of the channel sequence record in the cache folder. */
export const CHANNELS_FILE = 'channels.json';

/** A channel document is a few hundred bytes; a rollout naming many hosts a few KiB. */
const MAX_CHANNEL_BYTES = 256 * 1024;

/** What a host decided from a channel document. */
export interface ChannelDecision {
  document: ChannelDocument;
  /** `sha384-…` of the document's bytes. */
  integrity: string;
  /** The release this host gets. */
  release: number;
  /** This host's bucket (0–100) for the channel. */
  bucket: number;
  /** It gets the rollout's release. */
  inRollout: boolean;
  /** The release is the host's `pin`. */
  pinned: boolean;
  /** The rollout's release was halted on this host: it gets the channel's own release instead. */
  halted: boolean;
  /** Where the release's manifest and signature are. */
  manifestUrl: string;
  signatureUrl: string;
  /** Records the document's sequence (once the release it named is current). */
  commit(): Promise<void>;
}

/** What resolving a channel needs of the host. */
export interface ChannelContext {
  client: Fetcher;
  channels: ReleaseStore;
  hostId: string;
  now: () => number;
}

/** Fetches, verifies and decides the channel of `remote` (which has `channel` set). */
export async function resolveChannel(
  record: RemoteRecord,
  remote: ResolvedRemote,
  context: ChannelContext,
): Promise<ChannelDecision> {
  const channel = remote.channel!;
  const files = channelFiles(channel);
  const documentUrl = new URL(files.document, remote.manifestUrl).href;
  const details = { remote: remote.alias, url: documentUrl };
  const request = { state: record, remote, maxBytes: MAX_CHANNEL_BYTES, allowNotFound: true };
  const [bytesResult, signatureResult] = await Promise.all([
    context.client({ ...request, url: documentUrl, what: `channel ${channel}` }),
    context.client({
      ...request,
      url: new URL(files.signature, remote.manifestUrl).href,
      what: `channel ${channel} signature`,
    }),
  ]);
  if (bytesResult.status === 404) {
    throw new ChannelError(
      `Remote "${remote.alias}" has no channel "${channel}" (${documentUrl} answered 404), and this host follows it. ` +
        'Promote a release to it with `ferry release promote <release> --channel ' +
        `${channel}\` in the remote's output folder, or fix \`remotes.${remote.alias}.channel\`.`,
      { ...details, reason: 'missing' },
    );
  }
  const bytes = bytesResult.bytes;
  // A channel is a signed pointer: the same rules as the manifest's signature, with the keys pinned for the remote.
  verifySignatureFile(
    bytes,
    signatureResult.status === 404 ? undefined : signatureResult.bytes,
    remote.publicKeys,
    details,
  );
  let document: ChannelDocument;
  try {
    document = parseChannelDocument(bytes, documentUrl);
  } catch (cause) {
    throw new ChannelError((cause as Error).message, { ...details, reason: 'malformed', cause });
  }
  if (document.remote !== remote.name || document.channel !== channel) {
    throw new ChannelError(
      `The channel document at ${documentUrl} is channel "${document.channel}" of remote "${document.remote}", not ` +
        `channel "${channel}" of "${remote.name}"; it was refused.`,
      { ...details, reason: 'mismatch' },
    );
  }
  if (Date.parse(document.expires) <= context.now()) {
    throw new ChannelError(
      `Channel "${channel}" of remote "${remote.alias}" expired at ${document.expires} (sequence ${document.sequence}); ` +
        'an expired pointer is refused so an old one cannot be served forever. Promote again (`ferry release ' +
        'promote`) to renew it.',
      { ...details, reason: 'expired' },
    );
  }
  const integrity = integrityOf(bytes);
  const key = `${remote.name}@${new URL(remote.manifestUrl).origin}#${channel}`;
  if (!context.channels.allows(key, document.sequence, integrity)) {
    const known = context.channels.get(key)!;
    throw new ChannelError(
      `Channel "${channel}" of remote "${remote.alias}" served sequence ${document.sequence}, but this host accepted ` +
        `sequence ${known.release} on ${known.acceptedAt}${document.sequence === known.release ? ' with other bytes' : ''}: ` +
        'an older pointer served again (a replay) is refused. Promote again to move the channel on.',
      { ...details, reason: 'replayed' },
    );
  }
  const decided = releaseFor(document, context.hostId);
  const pinned = remote.pin !== undefined;
  const halted =
    !pinned &&
    decided.inRollout &&
    record.halted?.sequence === document.sequence &&
    record.halted.release === decided.release;
  const release = pinned ? remote.pin! : halted ? document.release : decided.release;
  const manifest = releaseFiles(release);
  return {
    document,
    integrity,
    release,
    bucket: decided.bucket,
    inRollout: decided.inRollout && !halted && !pinned,
    pinned,
    halted,
    manifestUrl: new URL(manifest.manifest, remote.manifestUrl).href,
    signatureUrl: new URL(manifest.signature, remote.manifestUrl).href,
    commit: () => context.channels.accept(key, document.sequence, integrity, true),
  };
}
