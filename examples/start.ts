/**
 * `npm start`: builds the auth service, starts it and the user service as child processes, and shows how to try
 * them. Ctrl-C stops both.
 *
 * Ports: AUTH_SERVICE_PORT (default 3001) and USER_SERVICE_PORT (default 3000); 0 picks free ones.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { buildAuthService } from './auth-service/build.ts';

interface Service {
  name: string;
  child: ChildProcess;
  /** Resolves to the URL the service printed when it started listening; rejects if it exited first. */
  url: Promise<string>;
  exited: Promise<void>;
}

const services: Service[] = [];
let stopping = false;

/** Runs one service, prefixing its output with its name. */
function startService(name: string, file: string, env: Record<string, string>): Service {
  const child = spawn(process.execPath, [join(import.meta.dirname, file)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      console.log(`[${name}] ${line}`);
      const match = / listening on (http:\/\/\S+)$/.exec(line);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code, signal) => reject(new Error(`${name} exited (${signal ?? `code ${code}`})`)));
  });
  createInterface({ input: child.stderr! }).on('line', (line) => console.error(`[${name}] ${line}`));
  console.log(`[start] ${name} started (pid ${child.pid})`);
  const service = { name, child, url, exited };
  services.push(service);
  // A service that stops on its own takes the demo down with it, rather than leaving half of it running.
  child.once('exit', (code, signal) => {
    if (!stopping) void stop(1, `${name} stopped unexpectedly (${signal ?? `code ${code}`})`);
  });
  return service;
}

/** Stops every service (SIGINT, then SIGKILL after 5 s) and exits. */
async function stop(exitCode: number, why: string): Promise<never> {
  stopping = true;
  console.log(`[start] ${why}; stopping the services`);
  const running = services.filter(({ child }) => child.exitCode === null && child.signalCode === null);
  for (const { child } of running) child.kill('SIGINT');
  const force = setTimeout(() => {
    for (const { child } of running) child.kill('SIGKILL');
  }, 5000);
  await Promise.all(running.map(({ exited }) => exited));
  clearTimeout(force);
  process.exit(exitCode);
}

process.on('SIGINT', () => void stop(0, 'Ctrl-C'));
process.on('SIGTERM', () => void stop(0, 'SIGTERM'));

try {
  console.log('[start] building the auth service (examples/auth-service/build.ts)');
  const build = await buildAuthService();
  console.log(`[start] built ${build.manifest.name} ${build.manifest.ferry.version}, signed by ${build.publicKey}`);
  const auth = startService('auth-service', 'auth-service/server.ts', {
    AUTH_SERVICE_PORT: process.env['AUTH_SERVICE_PORT'] ?? '3001',
  });
  const authUrl = await auth.url;
  const user = startService('user-service', 'user-service/server.ts', {
    USER_SERVICE_PORT: process.env['USER_SERVICE_PORT'] ?? '3000',
    AUTH_SERVICE_URL: authUrl,
    FERRY_AUTH_PUBLIC_KEY: build.publicKey,
  });
  const userUrl = await user.url;
  console.log(tryIt(authUrl, userUrl));
} catch (error) {
  if (!stopping) await stop(1, `could not start: ${error instanceof Error ? error.message : String(error)}`);
}

function tryIt(authUrl: string, userUrl: string): string {
  const login = `{"username":"alice","password":"wonderland"}`;
  return `
Try it:
  # log in (alice/wonderland or bob/builder) and keep the token
  TOKEN=$(curl -s -X POST ${authUrl}/login -H 'Content-Type: application/json' -d '${login}' | sed -E 's/.*"token":"([^"]*)".*/\\1/')

  curl -s ${userUrl}/profile -H "Authorization: Bearer $TOKEN"    # 200 Welcome alice! This is your profile.
  curl -s ${userUrl}/profile                                      # 401 No authorization header
  curl -s ${userUrl}/profile -H 'Authorization: Bearer'           # 401 Token not provided
  curl -s ${userUrl}/profile -H 'Authorization: Bearer nonsense'  # 403 Invalid token: jwt malformed
  curl -s ${authUrl}/mf-manifest.json                             # the signed manifest the user service loads

Press Ctrl-C to stop both services.`;
}
