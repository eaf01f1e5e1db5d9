import type { Manifest as MfManifest } from '@module-federation/sdk';
import type { Manifest } from '../../src/manifest/index.ts';
export function asMf(manifest: Manifest): MfManifest {
  return manifest;
}
