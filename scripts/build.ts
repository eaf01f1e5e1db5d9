/**
 * `npm run build`: writes the package's dist/ from src/.
 *
 * - JavaScript: esbuild bundles each package entry (`ferry`, `ferry/build`, `ferry/server`, `ferry/manifest`,
 *   `ferry/register`, `ferry/testing` and the CLI) as an ES module at the path package.json's `exports` names, with
 *   code splitting, in two groups. The host's entries, `ferry` and `ferry/register`, are split only against each
 *   other: the runtime they share is one chunk (dist/chunks/host-*), so they share one runtime (one host, one share
 *   scope) and a host loads two files. The other entries are split among themselves (dist/chunks/chunk-*). Split
 *   all together, what any subset of entries uses became a chunk of its own, and `import 'ferry'` read and linked 12
 *   files: ~27 → ~22 ms in a fresh process (bench/ROUNDS.md, ninth round). The price is a second copy of what both
 *   groups use (the error classes, the manifest's code, the diagnostics channels' names), which changes nothing a
 *   user sees: `instanceof FerryError` checks a `Symbol.for` brand and the code, not the class (src/common/errors.ts),
 *   and diagnostics channels are found by name.
 *   Packages (esbuild, oxc-transform, TypeScript) stay imports, resolved from node_modules as before. semver is the
 *   exception (ferry has no dependencies): its four functions are bundled into one CommonJS file of their own,
 *   dist/chunks/semver.cjs (its licence in dist/THIRD-PARTY-NOTICES), which src/common/semver.ts requires on first
 *   use only: plain versions and simple ranges never need it, and a host's start-up no longer compiles and runs
 *   semver's ~54 KB (bench/ROUNDS.md, tenth round). As a package its ~15 CommonJS files had been resolved, read and
 *   wrapped one by one at every host's start (~10 ms).
 *   Why bundle at all: a host loads ferry at start-up, and resolving and linking its ~40 small modules one by one
 *   took about as long as running them (`import 'ferry'`: ~32 → ~15 ms on the bench machine, bench/ROUNDS.md).
 * - Declarations: tsc, `emitDeclarationOnly`, one .d.ts per source file as before (the `exports` types point there).
 *
 * - The container runtime (src/container/): one script, dist/container/runtime.js, that `ferry build` embeds in every
 *   remoteEntry.js (src/build/container-runtime.ts reads it from there); not an entry: no host imports it.
 *
 * The dynamic `import()`s of the CLI's commands and of the build's optional tools stay dynamic (separate chunks), so
 * `ferry serve` and every host entry still never load esbuild: test/package-layout.test.ts walks the built chunks.
 *
 * @example
 * ```sh
 * node scripts/build.ts   # what `npm run build` runs
 * ```
 */
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { build, transform } from 'esbuild';
import { bundleContainerRuntime } from '../src/build/container-runtime.ts';

const root = join(import.meta.dirname, '..');

/**
 * Node's builtins through `process.getBuiltinModule()` instead of ES imports: an `import … from 'node:util'` builds
 * that module's ES facade, which reads every export, lazy getters included. Those load what ferry never uses
 * (`node:util`'s load worker_threads, parseArgs, the assertion diff and the stream classes; `node:fs`'s load the
 * readline interface and the file streams; `node:http`'s load Node's bundled undici for `WebSocket`): ~3 ms of a
 * host's `import 'ferry'` (bench/ROUNDS.md, ninth round). In the bundles esbuild wrote, each
 * `import { a, b as c } from "node:x";` becomes `const { a, b: c } = process.getBuiltinModule("node:x");` in its
 * place (esbuild puts a module's imports at the top of its part of the chunk, before its code), which reads only the
 * names imported; a default or namespace import becomes the module itself. Line for line, so the source maps hold.
 * Any other form of builtin import left in a bundle fails the build.
 */
function builtinsWithoutFacades(code: string, file: string): string {
  const rewritten = code
    .replace(/^import \{([^}]*)\} from "(node:[\w/]+)";$/gm, (statement: string, names: string, builtin: string) => {
      // A builtin's ES default is the module itself, which destructuring cannot name: left as it is, refused below.
      if (/\bdefault\b/.test(names)) return statement;
      if (LAZY_BUILTINS.has(builtin)) return lazyImports(names, builtin);
      return `const {${names.replace(/([\w$]+) as ([\w$]+)/g, '$1: $2')}} = process.getBuiltinModule("${builtin}");`;
    })
    .replace(
      /^import (?:\* as )?([\w$]+) from "(node:[\w/]+)";$/gm,
      (_, name: string, builtin: string) => `const ${name} = process.getBuiltinModule("${builtin}");`,
    );
  const left = /^(?:import|export)\b[^;]*?"node:[^"]*"/m.exec(rewritten) ?? /\bimport\(\s*"node:/.exec(rewritten);
  if (left) throw new Error(`${file}: a builtin import the build does not rewrite: ${left[0]}`);
  return rewritten;
}

/**
 * The built JavaScript as ASCII only. esbuild escapes every non-ASCII character of the code (its default `charset`),
 * but the comments it carries over keep theirs, and one `\u2014` in a comment makes V8 hold the whole file as two-byte
 * text: decoded on Node's slow path, twice the memory for as long as the process runs, and every function scanned at
 * that width when it is first compiled (50 remotes started from the cache, 435 -> 411 ms; bench/ROUNDS.md, thirteenth
 * round). Each UTF-16 unit left becomes one ASCII character, so lines, columns and the source maps stay as they were.
 * That only comments changed is checked: the file and its rewrite must be the same code once esbuild has dropped
 * every comment, or the build fails.
 */
async function asciiOnly(code: string, file: string): Promise<string> {
  const rewritten = code.replace(/[\u0080-\uffff]/g, (unit) => ASCII_FOR[unit] ?? '?');
  if (rewritten === code) return code;
  const withoutComments = async (text: string) =>
    (await transform(text, { format: 'esm', minifyWhitespace: true, legalComments: 'none', logLevel: 'silent' })).code;
  if ((await withoutComments(code)) !== (await withoutComments(rewritten))) {
    throw new Error(`${file}: a non-ASCII character outside a comment; the build cannot make the file ASCII`);
  }
  return rewritten;
}

/** ASCII stand-ins, one character each, for what the sources' comments use; anything else becomes `?`. */
const ASCII_FOR: Record<string, string> = {
  '\u2014': '-',
  '\u2013': '-',
  '\u2212': '-',
  '\u00d7': 'x',
  '\u00f7': '/',
  '\u2026': '.',
  '\u2192': '>',
  '\u2190': '<',
  '\u2265': '>',
  '\u2264': '<',
  '\u2018': "'",
  '\u2019': "'",
  '\u201c': '"',
  '\u201d': '"',
  '\u00b5': 'u',
};

/**
 * Builtins that Node does not load at its own start-up and that a host needs only on some paths, taken when a function
 * imported from them is first called rather than when the chunk loads. `node:fs/promises` (~1.3 ms to load, bench/
 * README.md eleventh round) serves the cache's folder listings, pruning (in the background, seconds later), the
 * version folders of remotes with assets and `ferry.lock`: a host that starts from its cache or revalidates it never
 * needs it, and its writes go through `node:fs` (common/atomic-write.ts), which Node has loaded already.
 */
const LAZY_BUILTINS = new Set(['node:fs/promises']);

/** `{ a, b as c }` from a lazy builtin: one function per name that calls the builtin's own, on the import's line. */
function lazyImports(names: string, builtin: string): string {
  return names
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean)
    .map((name) => {
      const [imported, local = imported] = name.split(/\s+as\s+/) as [string, string?];
      const value = (process.getBuiltinModule(builtin) as Record<string, unknown>)[imported];
      if (typeof value !== 'function') throw new Error(`${builtin}'s ${imported} is not a function to call lazily`);
      return `const ${local} = (...args) => process.getBuiltinModule("${builtin}").${imported}(...args);`;
    })
    .join(' ');
}
const dist = join(root, 'dist');

/**
 * The package entries, by the path under dist/ that package.json's `exports` (and bin/ferry.js) name, in their two
 * groups: what a host loads at start-up, and the rest.
 */
const HOST_ENTRIES: Record<string, string> = {
  index: 'src/index.ts',
  'register/index': 'src/register/index.ts',
};
const OTHER_ENTRIES: Record<string, string> = {
  'build/index': 'src/build/index.ts',
  'server/index': 'src/server/index.ts',
  'manifest/index': 'src/manifest/index.ts',
  'otel/index': 'src/otel/index.ts',
  'inspector/index': 'src/inspector/index.ts',
  'testing/index': 'src/testing/index.ts',
  'cli/main': 'src/cli/main.ts',
};

await rm(dist, { recursive: true, force: true });

const tsc = spawnSync(
  process.execPath,
  [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json', '--emitDeclarationOnly'],
  {
    cwd: root,
    stdio: 'inherit',
  },
);
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

/** One group of entries, split among themselves, its chunks named by `chunkNames` (under dist/). */
function bundle(entries: Record<string, string>, chunkNames: string) {
  return build({
    absWorkingDir: root,
    entryPoints: Object.entries(entries).map(([out, input]) => ({ in: input, out })),
    outdir: dist,
    chunkNames,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    // Packages stay imports (semver is required from dist/chunks/semver.cjs, see above).
    packages: 'external',
    // No `keepNames`: it wraps every function in a naming call, made again for each closure a request or a load
    // creates (~10 % of the server's requests per second on small files; bench/ROUNDS.md, tenth round). Names then
    // hold because no two bundled functions share one and no class names itself inside its own body (esbuild would
    // rename it, `var FerryError = class _FerryError`), and error classes take `name` from their class:
    // test/package-layout.test.ts checks every exported function, class and error of the built entries.
    keepNames: false,
    sourcemap: 'linked',
    sourcesContent: false,
    logLevel: 'warning',
    write: false,
  });
}

const bundles = await Promise.all([
  bundle(HOST_ENTRIES, 'chunks/host-[name]-[hash]'),
  bundle(OTHER_ENTRIES, 'chunks/[name]-[hash]'),
]);
for (const { outputFiles } of bundles) {
  for (const { path, text } of outputFiles) {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, path.endsWith('.js') ? await asciiOnly(builtinsWithoutFacades(text, path), path) : text);
  }
}

// semver's functions, for src/common/semver.ts to require when a version or range is not of the plain forms.
await build({
  absWorkingDir: root,
  stdin: {
    contents: [
      'module.exports = {',
      "  satisfies: require('semver/functions/satisfies.js'),",
      "  validRange: require('semver/ranges/valid.js'),",
      "  valid: require('semver/functions/valid.js'),",
      "  rsort: require('semver/functions/rsort.js'),",
      '};',
    ].join('\n'),
    resolveDir: root,
    sourcefile: 'semver-functions.cjs',
  },
  outfile: join(dist, 'chunks', 'semver.cjs'),
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node22',
  logLevel: 'warning',
});
await writeFile(
  join(dist, 'THIRD-PARTY-NOTICES'),
  `dist/chunks/semver.cjs includes semver (https://github.com/npm/node-semver), under this licence:\n\n${await readFile(
    join(root, 'node_modules', 'semver', 'LICENSE'),
    'utf8',
  )}`,
);
await mkdir(join(dist, 'container'), { recursive: true });
await writeFile(
  join(dist, 'container', 'runtime.js'),
  await bundleContainerRuntime(join(root, 'src/container/index.ts')),
);
