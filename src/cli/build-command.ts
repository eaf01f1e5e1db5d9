/**
 * `ferry build`: bundles the remote described by ferry.config.* into its federation output folder. Errors are
 * thrown as ferry errors; main.ts prints them.
 */
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type BuildOptions, buildRemote, formatBuildSummary, loadConfig } from '../build/index.ts';
import { reportError } from './main.ts';
import { watchBuild } from './watch-build.ts';

const HELP = `Usage: ferry build [options]

Bundles the exposed modules listed in ferry.config.(ts|mts|mjs|js|json) and writes remoteEntry.js, one
content-hashed bundle, source map and type declaration (.d.ts, unless \`dts: false\`) per expose, one
content-hashed fallback copy per shared package, mf-manifest.json listing every file with its size and sha384,
and (when signing) mf-manifest.json.sig. Before writing, it compares each expose's API with the previous release
and refuses a breaking change unless the version is a new major one.

Options:
  -c, --config <file>   config file (default: ferry.config.* in the project root)
  -o, --out <dir>       output folder (default: the config's outDir, or dist/federation)
      --sign <keyfile>  sign the manifest with this PEM private key (from \`ferry keygen\`);
                        without it, FERRY_SIGNING_KEY (PEM text or a file path) or the config's \`sign\` is used
      --root <dir>      project root (default: the config file's folder with --config, else the current folder)
      --baseline <url|folder>
                        the release to compare the API with: the URL the remote is served at, or a build
                        output folder (default: the config's \`baseline\`, else the previous build in the output
                        folder); a breaking change is refused unless the version is a new major one
      --no-baseline     skip the API comparison
      --allow-breaking <reason>
                        release breaking changes without a new major version; the reason and the breaking
                        exports are recorded in the manifest (hosts still refuse it live outside their versionRange)
      --no-cache        bundle every shared package's fallback again instead of reusing the one an earlier
                        build made from the same, unchanged files (node_modules/.cache/ferry/fallbacks)
  -w, --watch           build again whenever a file of the project changes, until Ctrl+C; a failed build
                        prints its error and keeps the last good output (hosts with live updates pick each
                        new build up from \`ferry serve\`)
  -h, --help            show this help
`;

/**
 * Runs `ferry build` with its arguments and resolves to the exit code.
 *
 * @example
 * ```ts
 * process.exitCode = await runBuild(['--sign', 'ferry-signing-key.pem']);
 * ```
 */
export async function runBuild(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      config: { type: 'string', short: 'c' },
      out: { type: 'string', short: 'o' },
      sign: { type: 'string' },
      root: { type: 'string' },
      baseline: { type: 'string' },
      'no-baseline': { type: 'boolean' },
      'allow-breaking': { type: 'string' },
      'no-cache': { type: 'boolean' },
      watch: { type: 'boolean', short: 'w' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  // Paths on the command line are relative to the shell's folder, not the project root.
  const options: BuildOptions = {
    ...(values.root !== undefined ? { root: resolve(values.root) } : {}),
    ...(values.config !== undefined ? { configFile: resolve(values.config) } : {}),
    ...(values.out !== undefined ? { outDir: resolve(values.out) } : {}),
    ...(values.sign !== undefined ? { sign: resolve(values.sign) } : {}),
    ...(values['no-baseline']
      ? { baseline: false as const }
      : values.baseline !== undefined
        ? { baseline: /^https?:\/\//i.test(values.baseline) ? values.baseline : resolve(values.baseline) }
        : {}),
    ...(values['allow-breaking'] !== undefined ? { allowBreaking: values['allow-breaking'] } : {}),
    ...(values['no-cache'] ? { cache: false } : {}),
  };
  const build = async () => {
    const result = await buildRemote(options);
    for (const warning of result.warnings) process.stderr.write(`ferry build: warning: ${warning}\n`);
    process.stdout.write(`${formatBuildSummary(result)}\n`);
    return result;
  };
  if (!values.watch) {
    await build();
    return 0;
  }
  // The output folder is known before the first build, so that its own writes (bundles, the release record) never
  // count as changes: they would start another build. A config that does not load yet fails the first build instead.
  const root = options.root ?? (options.configFile !== undefined ? dirname(options.configFile) : process.cwd());
  let outDir: string | undefined = await loadConfig({
    root,
    ...(options.configFile !== undefined ? { configFile: options.configFile } : {}),
    ...(options.outDir !== undefined ? { outDir: options.outDir } : {}),
  }).then(
    (config) => config.outDir,
    () => options.outDir,
  );
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await watchBuild({
    root,
    outDir: () => outDir,
    build: async () => {
      outDir = (await build()).outDir;
    },
    onError: (error) => reportError('build', error),
    log: (line) => process.stdout.write(`ferry build --watch: ${line}\n`),
    signal: controller.signal,
  });
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  process.stdout.write('ferry build --watch: stopped\n');
  return 0;
}
