/** runtime: runs in the host process. Imports ../manifest and ../common only; never build tooling. */

export type { RemoteStatus } from './availability.ts';
export type { AvailabilityOptions, LocalFallback } from './availability-options.ts';
export type { BreakerPolicy, BreakerSnapshot, BreakerState } from './breaker.ts';
export type {
  BreakerMessage,
  CacheMessage,
  FallbackMessage,
  FetchMessage,
  ImportEndMessage,
  ImportErrorMessage,
  ImportStartMessage,
  ManifestMessage,
  UpdateMessage,
  WarningMessage,
} from './channels.ts';
export { channelNames } from './channels.ts';
export { createHost, type Host, type RemoteModules } from './host.ts';
export type { HealthCheck, LiveHostOptions, LiveRemoteOptions, UpdateCandidate } from './live-options.ts';
export type { UpdateOutcome } from './live-updates.ts';
export type { HostOptions, HostSharedOptions, RemoteOptions } from './options.ts';
export type { RetryPolicy } from './retry.ts';
export type { SharedProvider, ShareScope, ShareStrategy } from './share-scope.ts';
export type { SharedModuleReport, SharedReport, SharedUse } from './sharing.ts';
export type { FetchLike } from './transport.ts';
