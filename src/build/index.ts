/** build: runs in the remote's build step. Imports ../manifest and ../common only. */
export { type BuildOptions, type BuildResult, buildRemote, formatBuildSummary } from './build.ts';
export { type LoadConfigOptions, loadConfig, type ResolvedConfig, type ResolvedExpose } from './config.ts';
export { CONFIG_FILES } from './config-file.ts';
export type { ContractReport, ExposeReport } from './contract.ts';
export type { ExportVerdict } from './contract-types.ts';
export type { OutputFile } from './create-manifest.ts';
export { defineRemote, type ExposeConfig, type RemoteConfig, type SharedConfig } from './define.ts';
export { createRemoteEntry } from './remote-entry.ts';
export type { ResolvedShared } from './shared.ts';
export { SIGNING_KEY_ENV } from './signing-key.ts';
