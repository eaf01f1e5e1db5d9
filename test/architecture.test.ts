/**
 * ARCHITECTURE.md against the tree: one row per file under src/ (and no row for a file that is gone), every file's
 * layer as its folder says, and the import direction the document states (which biome.json also enforces).
 */
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { test } from 'node:test';
import { packagesLoadedBy, runtimeImports } from './helpers/import-graph.ts';
import { REPO_ROOT } from './helpers/temp-project.ts';

const DOC = 'ARCHITECTURE.md';

/** Folders under src/ and what each may import from its sibling folders (cli, the top, may import anything). */
const MAY_IMPORT: Record<string, readonly string[] | 'anything'> = {
  common: [],
  manifest: ['common'],
  // src/build imports src/container's types only (it bundles the container runtime as a file, never imports it).
  build: ['manifest', 'common', 'container'],
  server: ['manifest', 'common'],
  runtime: ['manifest', 'common'],
  register: ['runtime', 'manifest', 'common'],
  otel: ['runtime', 'common'],
  inspector: ['runtime', 'manifest', 'common'],
  testing: ['build', 'server', 'manifest', 'common'],
  // Bundled into every remoteEntry.js, run in foreign hosts: only files of src/common that import nothing.
  container: ['common'],
  cli: 'anything',
};
/** The layer column for files directly in src/. */
const ROOT_LAYER = 'entry';

interface Row {
  path: string;
  layer: string;
  does: string;
  line: number;
}

/** Table rows whose first cell is a repository path in backticks (`src/…`, `test/…`, `examples/…`). */
async function documentedRows(): Promise<Row[]> {
  const text = await readFile(join(REPO_ROOT, DOC), 'utf8');
  const rows: Row[] = [];
  text.split('\n').forEach((line, index) => {
    const match = /^\|\s*`((?:src|test|examples|bench)\/[^`]*)`\s*\|(.*)\|\s*$/.exec(line.trim());
    if (!match) return;
    const rest = match[2]!.split('|').map((cell) => cell.trim());
    rows.push({ path: match[1]!, layer: rest.length > 1 ? rest[0]! : '', does: rest.at(-1)!, line: index + 1 });
  });
  return rows;
}

function toPosix(path: string): string {
  return path.split(sep).join('/');
}

/** Every file under src/, as a repository path (`src/runtime/host.ts`). */
async function sourceFiles(): Promise<string[]> {
  const entries = await readdir(join(REPO_ROOT, 'src'), { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => toPosix(relative(REPO_ROOT, join(entry.parentPath, entry.name))))
    .sort();
}

/** The folder of src/ a file belongs to (`runtime`), or `''` for files directly in src/. */
function layerOf(file: string): string {
  const parts = file.split('/');
  return parts.length > 2 ? parts[1]! : '';
}

test('every file under src/ has exactly one row in ARCHITECTURE.md, and every src/ row is a file', async () => {
  const files = await sourceFiles();
  const rows = (await documentedRows()).filter((row) => row.path.startsWith('src/'));
  const documented = rows.map((row) => row.path);
  assert.deepEqual(
    files.filter((file) => !documented.includes(file)),
    [],
    `files under src/ without a row in ${DOC} (add: | \`path\` | layer | what it does |)`,
  );
  assert.deepEqual(
    rows.filter((row) => !files.includes(row.path)).map((row) => `${row.path} (${DOC}:${row.line})`),
    [],
    `rows in ${DOC} for files that do not exist under src/ (remove or rename them)`,
  );
  assert.deepEqual(
    documented.filter((path, index) => documented.indexOf(path) !== index),
    [],
    `files with more than one row in ${DOC}`,
  );
});

test("each src/ row names the file's layer (its folder) and says what the file does", async () => {
  for (const row of (await documentedRows()).filter((r) => r.path.startsWith('src/'))) {
    const expected = layerOf(row.path) || ROOT_LAYER;
    assert.equal(row.layer, expected, `${DOC}:${row.line}: the layer of ${row.path}`);
    assert.ok(row.does.length >= 15, `${DOC}:${row.line}: say in one line what ${row.path} does`);
  }
});

test('every test helper has a row in ARCHITECTURE.md', async () => {
  const helpers = (await readdir(join(REPO_ROOT, 'test/helpers'))).filter((name) => name.endsWith('.ts'));
  const documented = (await documentedRows()).map((row) => row.path);
  assert.deepEqual(
    helpers.map((name) => `test/helpers/${name}`).filter((path) => !documented.includes(path)),
    [],
    `test helpers without a row in ${DOC}'s "Test helpers" table`,
  );
});

test('every test/ and examples/ path in ARCHITECTURE.md exists', async () => {
  for (const row of (await documentedRows()).filter((r) => !r.path.startsWith('src/'))) {
    const path = join(REPO_ROOT, row.path);
    assert.ok(existsSync(path), `${DOC}:${row.line} names ${row.path}, which does not exist`);
    if (row.path.endsWith('/')) assert.ok(statSync(path).isDirectory(), `${row.path} is not a folder`);
  }
});

test('every folder of src/ is a known layer, and imports flow one way', async () => {
  const violations: string[] = [];
  for (const file of await sourceFiles()) {
    const layer = layerOf(file);
    if (layer === '') continue; // the root entries re-export the layers they present to users
    const allowed = MAY_IMPORT[layer];
    assert.ok(allowed !== undefined, `${file}: src/${layer} is not a layer ARCHITECTURE.md and this test know`);
    if (allowed === 'anything') continue;
    const text = await readFile(join(REPO_ROOT, file), 'utf8');
    for (const { specifier, dynamic } of runtimeImports(text)) {
      if (specifier === 'esbuild' && layer !== 'build') violations.push(`${file} imports esbuild`);
      for (const tool of ['oxc-transform', '@typescript/typescript6']) {
        if (specifier === tool && (layer !== 'build' || !dynamic)) {
          violations.push(`${file} imports ${tool} (only src/build may, with a lazy import())`);
        }
      }
      if (!specifier.startsWith('.')) continue;
      const target = toPosix(relative(join(REPO_ROOT, 'src'), join(REPO_ROOT, dirname(file), specifier)));
      const targetLayer = target.includes('/') ? target.split('/')[0]! : '';
      if (targetLayer !== layer && !allowed.includes(targetLayer)) {
        violations.push(`${file} imports ${specifier} (src/${layer} may import ${allowed.join(', ') || 'nothing'})`);
      }
    }
  }
  assert.deepEqual(violations, [], 'imports against the direction cli -> build|server|runtime|register -> manifest');
});

test('src/container imports only files of src/common that import nothing, and src/build only its types', async () => {
  const violations: string[] = [];
  for (const file of await sourceFiles()) {
    const layer = layerOf(file);
    if (layer !== 'container' && layer !== 'build') continue;
    const text = await readFile(join(REPO_ROOT, file), 'utf8');
    for (const { specifier } of runtimeImports(text)) {
      if (!specifier.startsWith('.')) continue;
      const target = toPosix(relative(REPO_ROOT, join(REPO_ROOT, dirname(file), specifier)));
      if (layer === 'build' && target.startsWith('src/container/')) {
        violations.push(`${file} imports ${specifier} at run time (import its types only)`);
      }
      if (layer === 'container' && target.startsWith('src/common/')) {
        const imports = runtimeImports(await readFile(join(REPO_ROOT, target), 'utf8'));
        if (imports.length > 0) violations.push(`${file} imports ${target}, which imports ${imports[0]!.specifier}`);
      }
    }
  }
  assert.deepEqual(
    violations,
    [],
    'the container runtime must stay self-contained (it is bundled into remoteEntry.js)',
  );
});

test('biome.json enforces the direction for every layer below cli with noRestrictedImports', async () => {
  const biome = JSON.parse(await readFile(join(REPO_ROOT, 'biome.json'), 'utf8')) as {
    overrides?: Array<{ includes?: string[]; linter?: { rules?: { style?: Record<string, unknown> } } }>;
  };
  const layers = new Set((await sourceFiles()).map(layerOf).filter((layer) => layer !== '' && layer !== 'cli'));
  for (const layer of layers) {
    const rule = biome.overrides?.find((override) => override.includes?.includes(`src/${layer}/**`))?.linter?.rules
      ?.style?.['noRestrictedImports'];
    assert.ok(rule, `biome.json has no noRestrictedImports override for src/${layer}/**`);
  }
});

test('the entries a host loads never reach esbuild, oxc-transform or the TypeScript compiler API, even indirectly', async () => {
  const entries = ['src/index.ts', 'src/runtime/index.ts', 'src/server/index.ts', 'src/manifest/index.ts'];
  if (existsSync(join(REPO_ROOT, 'src/register/index.ts'))) entries.push('src/register/index.ts');
  for (const entry of entries) {
    const packages = await packagesLoadedBy(join(REPO_ROOT, entry));
    for (const tool of ['esbuild', 'oxc-transform', '@typescript/typescript6']) {
      const through = packages.get(tool);
      assert.equal(through, undefined, `${entry} loads ${tool} through ${through && relative(REPO_ROOT, through)}`);
    }
  }
});
