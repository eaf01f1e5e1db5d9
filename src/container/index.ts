/**
 * container: runs inside a ferry remote's remoteEntry.js, in any Module Federation host's process. Bundled into each
 * remoteEntry.js by `ferry build` (src/build/container-runtime.ts); imports nothing from src but ../common/errors.ts,
 * which imports nothing.
 */
export { type Container, createContainer } from './container.ts';
export type { ContainerData, ContainerExpose, ContainerFile, ContainerScope, ContainerShared } from './types.ts';
