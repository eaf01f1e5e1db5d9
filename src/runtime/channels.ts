/**
 * What the runtime publishes on node:diagnostics_channel. Subscribing costs nothing when nobody listens, so loads,
 * fetches, failures and warnings are always published; tools (APM, logs, tests) subscribe by name.
 *
 * @example
 * ```ts
 * import diagnostics_channel from 'node:diagnostics_channel';
 * diagnostics_channel.subscribe('ferry:import:end', (message) => console.log(message));
 * ```
 */
import diagnosticsChannel from 'node:diagnostics_channel';

/** Channel names, stable across versions. */
export const channelNames = {
  importStart: 'ferry:import:start',
  importEnd: 'ferry:import:end',
  importError: 'ferry:import:error',
  fetch: 'ferry:fetch',
  manifest: 'ferry:manifest',
  warning: 'ferry:warning',
} as const;

export interface ImportStartMessage {
  host: string;
  remote: string;
  expose: string;
}
export interface ImportEndMessage extends ImportStartMessage {
  version: string;
  durationMs: number;
}
export interface ImportErrorMessage extends ImportStartMessage {
  error: Error;
  durationMs: number;
}
export interface FetchMessage {
  host: string;
  remote: string;
  url: string;
  status: number;
  bytes: number;
  durationMs: number;
}
export interface ManifestMessage {
  host: string;
  remote: string;
  url: string;
  version: string;
  release: number;
  signed: boolean;
}
export interface WarningMessage {
  host: string;
  remote?: string;
  code: string;
  message: string;
}

export const channels = {
  importStart: diagnosticsChannel.channel(channelNames.importStart),
  importEnd: diagnosticsChannel.channel(channelNames.importEnd),
  importError: diagnosticsChannel.channel(channelNames.importError),
  fetch: diagnosticsChannel.channel(channelNames.fetch),
  manifest: diagnosticsChannel.channel(channelNames.manifest),
  warning: diagnosticsChannel.channel(channelNames.warning),
};
