/**
 * Test fixtures: a throw-away project folder made per test from a map of file contents, removed afterwards.
 *
 * @example
 * ```ts
 * await using project = await createTempProject({ 'src/a.ts': 'export const a = 1;' });
 * project.path('src/a.ts');
 * ```
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (where ferry's package.json is). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The `ferry` CLI entry, to spawn with `process.execPath`. */
export const FERRY_BIN = join(REPO_ROOT, 'bin', 'ferry.js');

export interface TempProject extends AsyncDisposable {
  dir: string;
  path(...parts: string[]): string;
  write(file: string, contents: string): Promise<void>;
  remove(): Promise<void>;
}

export interface TempProjectOptions {
  /**
   * Link these packages from ferry's own node_modules into the project's node_modules (real registry packages
   * installed as ferry's devDependencies), so the project has them and nothing else.
   */
  link?: string[];
}

/** Creates a project folder under the OS temp dir with the given files (paths relative, `/`-separated). */
export async function createTempProject(
  files: Record<string, string>,
  options: TempProjectOptions = {},
): Promise<TempProject> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-test-'));
  const write = async (file: string, contents: string) => {
    const target = join(dir, file);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, contents);
  };
  for (const [file, contents] of Object.entries(files)) await write(file, contents);
  for (const pkg of options.link ?? []) {
    const target = join(dir, 'node_modules', pkg);
    await mkdir(dirname(target), { recursive: true });
    await symlink(join(REPO_ROOT, 'node_modules', pkg), target, 'dir');
  }
  const remove = () => rm(dir, { recursive: true, force: true });
  return { dir, path: (...parts) => join(dir, ...parts), write, remove, [Symbol.asyncDispose]: remove };
}
