/**
 * Where `ferry build` spends its time, phase by phase, in a fresh process run in the remote's folder: loading the
 * build modules (esbuild's JavaScript API, semver, ferry's build layer — what the CLI loads), reading the config
 * (a ferry.config.ts is bundled by esbuild and imported), the signing key, the expose bundles (esbuild) and the type
 * declarations (the project's `tsc`, a child process) side by side as `buildRemote()` runs them, then the
 * shared-package fallback bundles, which `buildRemote()` runs after both. It runs the build's own functions from
 * dist/ in `buildRemote()`'s order but writes nothing; `ferry build` also writes and signs the output (a few ms).
 * Prints one JSON line.
 *
 * @example
 * ```sh
 * cd /tmp/ferry-bench-x/ferry/remote && node /path/to/ferry/bench/build-phases.ts
 * ```
 */
const started = performance.now();
const since = (t: number) => Math.round((performance.now() - t) * 10) / 10;
const phases: Record<string, number> = {};

let t = performance.now();
const dist = new URL('../dist/build/', import.meta.url);
const [{ loadConfig }, { bundleExposes }, { emitExposeTypes }, { bundleSharedFallbacks }, { loadSigningKey }] =
  await Promise.all([
    import(new URL('config.js', dist).href) as Promise<typeof import('../src/build/config.ts')>,
    import(new URL('bundle.js', dist).href) as Promise<typeof import('../src/build/bundle.ts')>,
    import(new URL('types.js', dist).href) as Promise<typeof import('../src/build/types.ts')>,
    import(new URL('shared-fallbacks.js', dist).href) as Promise<typeof import('../src/build/shared-fallbacks.ts')>,
    import(new URL('signing-key.js', dist).href) as Promise<typeof import('../src/build/signing-key.ts')>,
  ]);
phases['load build modules'] = since(t);

t = performance.now();
const config = await loadConfig({ root: process.cwd() });
phases['read config'] = since(t);

t = performance.now();
await loadSigningKey({
  root: config.root,
  env: process.env,
  ...(config.sign !== undefined ? { configSign: config.sign, configLabel: 'config' } : {}),
});
phases['signing key'] = since(t);

t = performance.now();
const bundling = bundleExposes(config).then((result) => {
  phases['expose bundles (esbuild), beside d.ts'] = since(t);
  return result;
});
const typing = emitExposeTypes(config).then((result) => {
  phases['type declarations (tsc), beside bundles'] = since(t);
  return result;
});
const [{ bundles }] = await Promise.all([bundling, typing]);
phases['bundles and d.ts together'] = since(t);

t = performance.now();
await bundleSharedFallbacks(config, bundles);
phases['shared fallbacks (esbuild), after both'] = since(t);

phases['total in process'] = since(started);
phases['process uptime'] = Math.round(process.uptime() * 10000) / 10;
process.stdout.write(`${JSON.stringify(phases)}\n`);
