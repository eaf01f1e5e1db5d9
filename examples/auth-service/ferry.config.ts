/**
 * What the auth service shares, read by `ferry build` (and by build.ts): the token validator, with jsonwebtoken
 * left to the host as a shared singleton, signed with the service's ferry key.
 */
import { defineRemote } from 'ferry/build';

export default defineRemote({
  name: 'authService',
  version: '1.0.0',
  exposes: { './tokenValidator': './src/tokenValidator.ts' },
  shared: { jsonwebtoken: { singleton: true, requiredVersion: '^9.0.0' } },
  outDir: 'dist/federation',
  sign: '.keys/ferry-signing-key.pem',
});
