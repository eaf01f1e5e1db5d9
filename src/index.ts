/**
 * `ferry`: the host runtime, the typed errors, and `defineRemote` for typing a remote's ferry.config.ts.
 * Loading this entry never loads build tooling (esbuild lives behind `ferry/build`).
 */

export { defineRemote, type ExposeConfig, type RemoteConfig, type SharedConfig } from './build/define.ts';
export * from './common/errors.ts';
export { defineHost, type HostConfig } from './register/define-host.ts';
export * from './runtime/index.ts';
