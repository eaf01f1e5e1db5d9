/**
 * Fixtures for the build tests: a small TypeScript remote (two exposes, a helper file, a bundled npm package `ms`
 * and a shared one, `jsonwebtoken`), and a way to run the real `ferry` CLI against it.
 */
import { spawn } from 'node:child_process';
import { createTempProject, FERRY_BIN, type TempProject } from './temp-project.ts';

export const PACKAGE_JSON = JSON.stringify(
  {
    name: 'auth-service',
    version: '1.2.0',
    type: 'module',
    dependencies: { jsonwebtoken: '^9.0.0', ms: '^2.1.0' },
  },
  null,
  2,
);

/** Source files of the fixture remote. Line 4 of helper.ts throws, so stack mapping can be checked by others. */
export const SOURCES: Record<string, string> = {
  'package.json': PACKAGE_JSON,
  'src/helper.ts': [
    "import ms from 'ms';",
    '',
    'export function lifetime(text: string): number {',
    '  if (text === "") throw new Error("empty lifetime");',
    '  return ms(text as "1d");',
    '}',
    '',
  ].join('\n'),
  'src/tokenValidator.ts': [
    "import jwt from 'jsonwebtoken';",
    "import { lifetime } from './helper.ts';",
    '',
    'export function validate(token: string, secret: string): unknown {',
    '  return jwt.verify(token, secret);',
    '}',
    "export const maxAge: number = lifetime('1d');",
    '',
  ].join('\n'),
  'src/other.ts': 'export const answer: number = 42;\n',
};

export const CONFIG_TS = `export default {
  name: 'authService',
  exposes: {
    './tokenValidator': './src/tokenValidator.ts',
    './other': { import: './src/other.ts' },
  },
  shared: { jsonwebtoken: { singleton: true } },
};
`;

/** A temporary copy of the fixture remote, with extra or replaced files. */
export function createRemoteProject(files: Record<string, string> = {}): Promise<TempProject> {
  return createTempProject({ ...SOURCES, 'ferry.config.ts': CONFIG_TS, ...files }, { link: ['jsonwebtoken', 'ms'] });
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `command args` in a child process to its end (killed after `timeoutMs`, if given), collecting its output. */
export function runProcess(
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env });
    const timer =
      options.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs `ferry <args>` in a child process (the built CLI: run `npm run build` first). */
export function runFerry(args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<CliResult> {
  const env = { ...process.env, ...options.env };
  if (options.env?.FERRY_SIGNING_KEY === undefined) delete env.FERRY_SIGNING_KEY;
  return runProcess(process.execPath, [FERRY_BIN, ...args], { cwd: options.cwd, env });
}
