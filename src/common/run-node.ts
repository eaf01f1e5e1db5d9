/**
 * Runs a Node script (a package's bin file, such as `tsc`) in a child process with the Node running ferry, and
 * collects its output (stdout and stderr together, in order of arrival) and exit code; a child that could not be
 * started resolves with code `null` and the reason as output. Used by `ferry build` (declarations with the project's
 * `tsc`) and `ferry check` (the host's `tsc --noEmit`).
 *
 * @example
 * ```ts
 * const { code, output } = await runNode(tscBin, ['--noEmit', '-p', 'tsconfig.json'], process.cwd());
 * ```
 */
import { spawn } from 'node:child_process';

export function runNode(file: string, args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [file, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    child.on('error', (error) => done({ code: null, output: error.message }));
    child.on('close', (code) => done({ code, output }));
  });
}
