/**
 * The demo's services as real child processes, for the end-to-end tests: start a service on a free loopback port,
 * wait for what it prints, call its routes, and stop everything afterwards.
 *
 * @example
 * ```ts
 * const auth = await startService(AUTH_SERVER, { AUTH_SERVICE_PORT: '0' });
 * const { token } = (await (await login(auth.url, 'alice', 'wonderland')).json()) as { token: string };
 * t.after(stopAll);
 * ```
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './temp-project.ts';

export const EXAMPLES = join(REPO_ROOT, 'examples');
export const AUTH_SERVER = join(EXAMPLES, 'auth-service', 'server.ts');
export const USER_SERVER = join(EXAMPLES, 'user-service', 'server.ts');

export interface RunningProcess {
  child: ChildProcess;
  /** Everything written so far to stdout and stderr. */
  output(): string;
  /** Resolves with the first match of `pattern` in the output; rejects on exit or after `ms`. */
  waitFor(pattern: RegExp, ms?: number): Promise<RegExpExecArray>;
  exited: Promise<number | null>;
}

const started = new Set<ChildProcess>();
/** Cache folders of the services started here: each process gets a fresh one unless a test shares one on purpose. */
const cacheDirs: string[] = [];
export function freshCacheDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-demo-cache-'));
  cacheDirs.push(dir);
  return dir;
}

/** Runs a TypeScript file with this Node, with the service variables cleared except those given. */
export function run(script: string, env: Record<string, string> = {}): RunningProcess {
  const cleanEnv = { ...process.env };
  for (const name of [
    'AUTH_SERVICE_PORT',
    'USER_SERVICE_PORT',
    'AUTH_SERVICE_URL',
    'AUTH_FEDERATION_DIR',
    'FERRY_AUTH_PUBLIC_KEY',
  ]) {
    delete cleanEnv[name];
  }
  const child = spawn(process.execPath, [script], {
    cwd: REPO_ROOT,
    env: { ...cleanEnv, FERRY_CACHE_DIR: freshCacheDir(), ...env },
  });
  started.add(child);
  let output = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    for (const listener of listeners) listener();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const waitFor = (pattern: RegExp, ms = 30_000) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        listeners.delete(check);
        settle();
      };
      const check = () => {
        const match = pattern.exec(output);
        if (match) finish(() => resolve(match));
      };
      const timer = setTimeout(
        () => finish(() => reject(new Error(`timed out waiting for ${pattern}:\n${output}`))),
        ms,
      );
      void exited.then((code) => finish(() => reject(new Error(`exited (${code}) before ${pattern}:\n${output}`))));
      listeners.add(check);
      check();
    });
  return { child, output: () => output, waitFor, exited };
}

/** Starts a service and resolves with the URL it printed. */
export async function startService(
  script: string,
  env: Record<string, string>,
): Promise<{ url: string } & RunningProcess> {
  const service = run(script, env);
  const [, url] = await service.waitFor(/ listening on (http:\/\/[\d.]+:\d+)/);
  return { ...service, url: url! };
}

export async function stopAll(): Promise<void> {
  await Promise.all(
    [...started].map(async (child) => {
      if (child.exitCode === null && child.signalCode === null) {
        const exit = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exit;
      }
      started.delete(child);
    }),
  );
}

/** A port nothing listens on (free a moment ago). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function login(authUrl: string, username: string, password: string): Promise<Response> {
  return fetch(`${authUrl}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
}

export interface ProfileBody {
  message?: string;
  user?: { sub: string; username: string; role: string };
  error?: string;
  code?: string;
}

export async function profile(userUrl: string, authorization?: string): Promise<{ status: number; body: ProfileBody }> {
  const response = await fetch(`${userUrl}/profile`, authorization === undefined ? {} : { headers: { authorization } });
  return { status: response.status, body: (await response.json()) as ProfileBody };
}

/** Removes the cache folders made by {@link freshCacheDir}. */
export function removeCacheDirs(): void {
  for (const dir of cacheDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}
