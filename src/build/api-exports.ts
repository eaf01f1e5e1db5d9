/**
 * The JavaScript-level API of each expose: its export names and what each one is (`function`, `class`, `value`),
 * found without TypeScript and without running the code. esbuild bundles every expose once more as an ES module
 * (packages external, nothing minified, nothing written): the metafile lists the entry's export names, `export *`
 * chains followed, and esbuild's canonical output says how each exported binding is declared. A CommonJS source
 * (`module.exports = …`) has the one export `default`.
 */
import { resolve } from 'node:path';
import { BuildError } from '../common/errors.ts';
import type { ExportKind } from '../manifest/index.ts';
import type { ResolvedConfig } from './config.ts';
import { loadEsbuild } from './esbuild.ts';

/** Export names and kinds, by expose key. */
export type ExposeExports = Map<string, Record<string, ExportKind>>;

/** `export { a as b, c }` at the end of esbuild's ES module output: exported name -> local binding. */
function exportedBindings(code: string): Map<string, string> {
  const bindings = new Map<string, string>();
  for (const match of code.matchAll(/^export\s*\{([^}]*)\}/gm)) {
    for (const part of match[1]!.split(',')) {
      const [local, exported] = part.trim().split(/\s+as\s+/);
      if (local) bindings.set((exported ?? local).replace(/^["']|["']$/g, ''), local);
    }
  }
  return bindings;
}

function asPattern(name: string): string {
  return name.replace(/[$]/g, '\\$');
}

/** How esbuild declared `local` at the top level of its output. */
function kindOf(code: string, local: string): ExportKind {
  const name = asPattern(local);
  if (new RegExp(`^(?:async\\s+)?function\\s*\\*?\\s*${name}\\s*\\(`, 'm').test(code)) return 'function';
  if (new RegExp(`^class\\s+${name}\\b`, 'm').test(code)) return 'class';
  const assigned = new RegExp(`^(?:var|let|const)\\s+${name}\\s*=\\s*(.{0,40})`, 'm').exec(code)?.[1];
  if (assigned !== undefined) {
    if (/^class\b/.test(assigned)) return 'class';
    if (/^(?:async\s+)?(?:function\b|\([^)]*\)\s*=>|[\w$]+\s*=>)/.test(assigned)) return 'function';
  }
  return 'value';
}

/**
 * The export names and kinds of every expose of `config`.
 *
 * @example
 * ```ts
 * (await exposeExports(config)).get('./tokenValidator'); // { validateJwtToken: 'function', maxAge: 'value' }
 * ```
 */
export async function exposeExports(config: ResolvedConfig): Promise<ExposeExports> {
  const { build } = await loadEsbuild();
  const entryPoints: Record<string, string> = {};
  for (const expose of config.exposes) entryPoints[expose.name] = expose.import;
  let result: Awaited<ReturnType<typeof build<{ write: false; metafile: true }>>>;
  try {
    result = await build({
      entryPoints,
      absWorkingDir: config.root,
      outdir: config.outDir,
      entryNames: '[name]',
      bundle: true,
      write: false,
      metafile: true,
      format: 'esm',
      platform: 'node',
      target: 'node22',
      packages: 'external',
      logLevel: 'silent',
    });
  } catch (cause) {
    // buildRemote() awaits the expose bundles first, so a syntax error is reported there, with the file and line.
    throw new BuildError(`Reading the exports of remote "${config.name}" failed: ${(cause as Error).message}`, {
      remote: config.name,
      cause,
    });
  }
  const outputs = new Map(result.outputFiles.map((file) => [file.path, file.text]));
  const exports: ExposeExports = new Map();
  for (const expose of config.exposes) {
    const jsPath = resolve(config.outDir, `${expose.name}.js`);
    const meta = Object.entries(result.metafile.outputs).find(([path]) => resolve(config.root, path) === jsPath)?.[1];
    const code = outputs.get(jsPath) ?? '';
    const bindings = exportedBindings(code);
    const kinds: Record<string, ExportKind> = {};
    for (const name of [...(meta?.exports ?? [])].sort()) kinds[name] = kindOf(code, bindings.get(name) ?? name);
    exports.set(expose.key, kinds);
  }
  return exports;
}
