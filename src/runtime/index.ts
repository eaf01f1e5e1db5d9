/** runtime: runs in the host process. Imports ../manifest and ../common only; never build tooling. */

export type { FerryWarning, WarningCode } from '../common/warnings.ts';
export { warningCodes } from '../common/warnings.ts';
export type {
  BreakerMessage,
  CacheMessage,
  CopySource,
  FallbackMessage,
  FetchMessage,
  FileTraceContext,
  ImportEndMessage,
  ImportErrorMessage,
  ImportStartMessage,
  ImportTraceContext,
  ManifestMessage,
  ManifestTraceContext,
  UpdateMessage,
  UpdateTraceContext,
  WarningMessage,
} from './channels.ts';
export { channelNames, tracingNames } from './channels.ts';
export { createHost, type Host, type RemoteModules } from './host.ts';
export type { UpdateOutcome } from './live/live-updates.ts';
export type { BreakerPolicy, BreakerSnapshot, BreakerState } from './net/breaker.ts';
export type { FetchLike } from './net/fetch-bytes.ts';
export type { RetryPolicy } from './net/retry.ts';
export type { CacheOptions } from './options/cache-options.ts';
export type { HostOptions } from './options/host-options.ts';
export type { HealthCheck, LiveHostOptions, LiveRemoteOptions, UpdateCandidate } from './options/live-options.ts';
export type { NetworkOptions, TimeoutOptions } from './options/network-options.ts';
export type { LocalFallback, RemoteOptions } from './options/remote-options.ts';
export type { HostSharedOptions } from './options/shared-options.ts';
export type { RemoteStatus } from './remotes.ts';
export type { SharedProvider, ShareScope, ShareStrategy } from './sharing/share-scope.ts';
export type { SharedModuleReport, SharedReport, SharedUse } from './sharing/sharing.ts';
