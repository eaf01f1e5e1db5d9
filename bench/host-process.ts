/**
 * Runs one host as a child process and measures it: time from spawn to the first 200 on /profile, RSS right after,
 * (optionally) requests per second with autocannon in its own process, and how soon a changed answer appears. The host is spawned directly (no npm or
 * shell in between) so the pid read from /proc is the host's.
 *
 * @example
 * ```ts
 * const host = await startHost({ command: [file], env: { PORT: '0' }, token });
 * console.log(host.coldStartMs, host.rssMiB);
 * await host.stop();
 * ```
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createInterface } from 'node:readline';

/** How to start a host. `command` is the arguments after the node executable. */
export interface HostCommand {
  command: string[];
  cwd?: string;
  env: Record<string, string>;
  /** The bearer token sent to /profile. */
  token: string;
  /** Give up after this long (default 30 s). */
  timeoutMs?: number;
}

/** A host that answered 200 on /profile. */
export interface RunningHost {
  url: string;
  pid: number;
  coldStartMs: number;
  rssMiB: number;
  /** Lines the host printed to stderr (diagnostics from an --import instrument, warnings). */
  stderr: string[];
  stop(): Promise<void>;
}

const LISTENING = / listening on (http:\/\/\S+)$/;

/** Spawns the host, waits for its listening line, then polls /profile until it answers 200. */
export async function startHost(options: HostCommand): Promise<RunningHost> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const started = performance.now();
  const child = spawn(process.execPath, options.command, {
    cwd: options.cwd,
    env: { ...process.env, NODE_OPTIONS: '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  const stdout: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
  const exited = new Promise<string>((resolve) =>
    child.once('exit', (code, signal) => resolve(`exited (${signal ?? `code ${code}`})`)),
  );
  const url = await Promise.race([
    new Promise<string>((resolve) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        stdout.push(line);
        const match = LISTENING.exec(line);
        if (match) resolve(match[1]!);
      });
    }),
    exited.then((why) => Promise.reject(new Error(`host ${why} before listening: ${tail(stderr, stdout)}`))),
    timeout(timeoutMs, 'listening'),
  ]);
  try {
    for (;;) {
      const status = await get(`${url}/profile`, options.token).catch(() => 0);
      if (status === 200) break;
      if (child.exitCode !== null) throw new Error(`host exited before answering 200: ${tail(stderr, stdout)}`);
      if (performance.now() - started > timeoutMs) throw new Error(`no 200 on ${url}/profile (last ${status})`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  const coldStartMs = performance.now() - started;
  return {
    url,
    pid: child.pid!,
    coldStartMs,
    rssMiB: rssMiB(child.pid!),
    stderr,
    stop: () => stopChild(child),
  };
}

/** Spawns a host that is expected to give up (the webpack host with its remote down): exit code and time. */
export async function runUntilExit(options: HostCommand): Promise<{ code: number | null; ms: number; stderr: string }> {
  const started = performance.now();
  const child = spawn(process.execPath, options.command, {
    cwd: options.cwd,
    env: { ...process.env, NODE_OPTIONS: '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdout!.resume();
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
  clearTimeout(timer);
  return { code, ms: performance.now() - started, stderr: stderr.trim().split('\n').slice(0, 3).join(' | ') };
}

/**
 * Calls `GET /profile` back to back until an answer's body passes `accept`; resolves with the wall-clock time (epoch
 * ms, sub-millisecond) that answer arrived, and how many requests were made and how many were not 200 meanwhile.
 */
export async function waitForBody(
  url: string,
  token: string,
  accept: (body: string) => boolean,
  timeoutMs: number,
): Promise<{ at: number; requests: number; failures: number }> {
  const started = performance.now();
  let requests = 0;
  let failures = 0;
  for (;;) {
    const answer = await getWithBody(`${url}/profile`, token).catch(() => ({ status: 0, body: '' }));
    const at = performance.timeOrigin + performance.now();
    requests += 1;
    if (answer.status !== 200) failures += 1;
    if (answer.status === 200 && accept(answer.body)) return { at, requests, failures };
    if (performance.now() - started > timeoutMs) throw new Error(`no accepted answer from ${url}/profile in time`);
    // A short pause: the host and the build being measured share the machine with this loop.
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Runs autocannon (its CLI, in its own process) against /profile; resolves to requests per second and errors. */
export async function measureRps(
  autocannonCli: string,
  url: string,
  token: string,
  seconds: number,
  connections: number,
): Promise<{ rps: number; non2xx: number; errors: number; latencyP50: number; latencyP99: number }> {
  const args = [autocannonCli, '-j', '-c', `${connections}`, '-d', `${seconds}`];
  args.push('-H', `Authorization=Bearer ${token}`, `${url}/profile`);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
  if (code !== 0) throw new Error(`autocannon exited with ${code}: ${err.slice(0, 500)}`);
  const result = JSON.parse(out) as {
    requests: { average: number };
    non2xx: number;
    errors: number;
    latency: { p50: number; p99: number };
  };
  return {
    rps: result.requests.average,
    non2xx: result.non2xx,
    errors: result.errors,
    latencyP50: result.latency.p50,
    latencyP99: result.latency.p99,
  };
}

/** VmRSS of a process, in MiB. */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) / 1024;
}

function get(url: string, token: string): Promise<number> {
  return getWithBody(url, token).then(({ status }) => status);
}

function getWithBody(url: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { authorization: `Bearer ${token}` }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function timeout(ms: number, what: string): Promise<never> {
  return new Promise((_, reject) =>
    setTimeout(() => reject(new Error(`timed out after ${ms} ms (${what})`)), ms).unref(),
  );
}

function tail(stderr: string[], stdout: string[]): string {
  return [...stdout, ...stderr].slice(-6).join(' | ');
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const force = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(force);
}
