/**
 * testing: the `ferry/testing` entry, for users' own test suites. Imports ../build (lazily, for remotes built from
 * sources), ../server, ../manifest and ../common; no host entry (`ferry`, `ferry/register`) imports it.
 */

export type { ModuleValues } from './module-source.ts';
export {
  createTestRemote,
  type TestExpose,
  type TestRemote,
  type TestRemoteContent,
  type TestRemoteOptions,
} from './test-remote.ts';
