/**
 * Where `ferry build` spends its time, phase by phase, in a fresh process run in the remote's folder: loading the
 * build layer (`dist/build/index.js`, what the CLI loads: esbuild's JavaScript API, semver, ferry's bundled build
 * code), reading the config (a ferry.config.ts is bundled by esbuild and imported), the signing key, then side by
 * side as `buildRemote()` runs them: the expose bundles (esbuild), the type declarations (oxc-transform in process
 * when the sources follow the isolatedDeclarations rules, else the project's `tsc` as a child process) and the
 * shared-package fallbacks (started with the bundles, finished once they say which requests each key serves; taken
 * from node_modules/.cache/ferry/fallbacks when an earlier build made them from the same files).
 * dist/ is bundled (scripts/build.ts), so the phases' own functions are taken from src/ (loaded outside the timed
 * phases). It writes nothing but a fallback cache entry on a miss; `ferry build` also writes and signs the output.
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
const { loadConfig } = (await import(
  new URL('../dist/build/index.js', import.meta.url).href
)) as typeof import('../src/build/index.ts');
phases['load build modules'] = since(t);
const [{ bundleExposes }, { emitExposeTypes }, { bundleSharedFallbacks, startSharedFallbacks }, { loadSigningKey }] =
  await Promise.all([
    import('../src/build/bundle.ts'),
    import('../src/build/types.ts'),
    import('../src/build/shared-fallbacks.ts'),
    import('../src/build/signing-key.ts'),
  ]);

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
  phases['expose bundles (esbuild)'] = since(t);
  return result;
});
const typing = emitExposeTypes(config).then((result) => {
  phases[`type declarations (${result.by === 'isolated' ? 'oxc-transform, in process' : 'tsc'})`] = since(t);
  return result;
});
const ahead = startSharedFallbacks(config);
const fallbacks = bundling.then(({ bundles }) => bundleSharedFallbacks(config, bundles, ahead));
fallbacks.then(() => {
  phases['shared fallbacks (esbuild, or the fallback cache of the earlier builds)'] = since(t);
});
await Promise.all([bundling, typing, fallbacks]);
phases['bundles, declarations and fallbacks together'] = since(t);

phases['total in process'] = since(started);
phases['process uptime'] = Math.round(process.uptime() * 10000) / 10;
process.stdout.write(`${JSON.stringify(phases)}\n`);
