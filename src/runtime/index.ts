/** runtime: runs in the host process. Imports ../manifest and ../common only; never build tooling. */
export type {
  FetchMessage,
  ImportEndMessage,
  ImportErrorMessage,
  ImportStartMessage,
  ManifestMessage,
  WarningMessage,
} from './channels.ts';
export { channelNames } from './channels.ts';
export { createHost, type Host, type RemoteModules } from './host.ts';
export type { HostOptions, HostSharedOptions, RemoteOptions } from './options.ts';
export type { SharedProvider, ShareScope } from './share-scope.ts';
export type { FetchLike } from './transport.ts';
