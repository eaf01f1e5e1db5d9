/**
 * Module Federation hosts in child processes, for the interop tests: each host runs in its own process (MF keeps
 * its state in `globalThis.__FEDERATION__`), from a temporary folder whose node_modules holds only the packages the
 * test links, so a host "without jsonwebtoken installed" really cannot resolve it. A host script prints one JSON
 * line (its result) last; `runMfHost()` parses it.
 *
 * @example
 * ```ts
 * const { result } = await runMfHost(`
 *   import { createInstance } from '@module-federation/runtime';
 *   const mf = createInstance({ name: 'host', remotes: [{ name: 'authService', entry: process.env.ENTRY }] });
 *   report({ answer: (await mf.loadRemote('authService/other')).answer });
 * `, { link: ['@module-federation/runtime'], env: { ENTRY: `${server.url}remoteEntry.js` } });
 * ```
 */
import { type CliResult, runProcess } from './build-fixture.ts';
import { createTempProject } from './temp-project.ts';

export interface MfHostRun extends CliResult {
  /** The JSON the script passed to `report()` (its last stdout line), or undefined. */
  result: Record<string, unknown> | undefined;
}

/** Prepended to every host script: `report(value)` prints the result line; `describe(error)` keeps what tests check. */
const PRELUDE = `
const report = (value) => console.log('RESULT ' + JSON.stringify(value));
const describe = (error) => ({
  name: error?.name, code: error?.code, message: String(error?.message ?? error),
  cause: error?.cause ? { name: error.cause.name, code: error.cause.code, message: String(error.cause.message) } : undefined,
});
`;

/**
 * Runs `script` (an ES module) as an MF host in a fresh folder whose node_modules links `link` from ferry's own
 * node_modules; resolves when it exits (killed after `timeoutMs`).
 */
export async function runMfHost(
  script: string,
  options: { link: string[]; env?: Record<string, string>; timeoutMs?: number },
): Promise<MfHostRun> {
  await using project = await createTempProject({ 'host.mjs': PRELUDE + script }, { link: options.link });
  const run = await runProcess(process.execPath, ['host.mjs'], {
    cwd: project.dir,
    env: { PATH: process.env['PATH'] ?? '', ...options.env },
    timeoutMs: options.timeoutMs ?? 30_000,
  });
  const line = run.stdout
    .split('\n')
    .reverse()
    .find((candidate) => candidate.startsWith('RESULT '));
  return { ...run, result: line === undefined ? undefined : (JSON.parse(line.slice(7)) as Record<string, unknown>) };
}
