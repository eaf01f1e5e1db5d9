/**
 * Builds the auth service's federation bundle: creates the keys on first use, then runs ferry's build with
 * ferry.config.ts (like `npx ferry build` in this folder). `npm start` runs this first.
 *
 * @example
 * ```sh
 * node examples/auth-service/build.ts
 * ```
 */
import { type BuildResult, buildRemote, formatBuildSummary } from 'ferry/build';
import { AUTH_SERVICE_ROOT, FERRY_SIGNING_KEY_FILE, prepareKeys } from './prepare.ts';

/** Prepares the keys and builds into dist/federation, signed with .keys/ferry-signing-key.pem. */
export async function buildAuthService(): Promise<BuildResult & { publicKey: string }> {
  const { ferryPublicKey } = await prepareKeys();
  // Naming the key here (not only in ferry.config.ts) keeps a FERRY_SIGNING_KEY set in the shell from signing the
  // demo with a key that the user service does not pin.
  const result = await buildRemote({ root: AUTH_SERVICE_ROOT, sign: FERRY_SIGNING_KEY_FILE });
  return { ...result, publicKey: ferryPublicKey };
}

if (import.meta.main) {
  console.log(formatBuildSummary(await buildAuthService()));
}
