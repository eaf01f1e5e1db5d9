/**
 * Real npm packages in exact versions for the sharing tests, installed from the registry with `npm install` once and
 * cached under node_modules/.cache/ferry-test-packages/<name>@<version>/, so reruns do not touch the network.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { REPO_ROOT } from './temp-project.ts';

const CACHE = join(REPO_ROOT, 'node_modules', '.cache', 'ferry-test-packages');

function run(command: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} failed (${code}): ${stderr}`)),
    );
  });
}

/** The folder of `name@version` as installed from the registry (cached): `<cache>/name@version/node_modules/name`. */
export async function npmPackage(name: string, version: string): Promise<string> {
  const folder = join(CACHE, `${name}@${version}`);
  const installed = join(folder, 'node_modules', name);
  if (existsSync(join(installed, 'package.json'))) return installed;
  await mkdir(CACHE, { recursive: true });
  // Installed into a temporary folder and renamed into place, so a crashed or concurrent install never leaves half.
  const temp = await mkdtemp(join(CACHE, `.${name}@${version}-`));
  try {
    await writeFile(join(temp, 'package.json'), '{ "private": true }\n');
    const flags = ['--no-save', '--no-package-lock', '--ignore-scripts', '--no-audit', '--no-fund'];
    await run('npm', ['install', ...flags, `${name}@${version}`], temp);
    await rename(temp, folder).catch(async (error: NodeJS.ErrnoException) => {
      if (!existsSync(join(installed, 'package.json'))) throw error;
    });
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
  return installed;
}

/** Links `name@version` (see {@link npmPackage}) as `<dir>/node_modules/<name>`. */
export async function linkNpmPackage(dir: string, name: string, version: string): Promise<void> {
  const target = join(dir, 'node_modules', name);
  await mkdir(dirname(target), { recursive: true });
  await symlink(await npmPackage(name, version), target, 'dir');
}
