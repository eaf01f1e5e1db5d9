/**
 * A real nginx (Debian's package; .ci/run installs it) serving a folder on a free loopback port with the config the
 * README's deployment section documents, started with a generated config in a temporary prefix and stopped after.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTempProject } from './temp-project.ts';

export function findNginx(): string | undefined {
  for (const candidate of ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/bin/nginx']) {
    try {
      execFileSync(candidate, ['-v'], { stdio: 'ignore' });
      return candidate;
    } catch {}
  }
  return undefined;
}

/** The nginx binary, or undefined where it is not installed. */
export const NGINX = findNginx();

export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** The nginx config the README documents, with paths and port for this test. */
export function nginxConfig(prefix: string, root: string, port: number): string {
  return `${process.getuid?.() === 0 ? 'user root;\n' : ''}worker_processes 1;
daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 1024; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  log_format ferry '$uri $status "$http_if_none_match"';
  access_log ${prefix}/access.log ferry;
  client_body_temp_path ${prefix}/tmp/body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
  server {
    listen 127.0.0.1:${port};
    root ${root};
    add_header X-Content-Type-Options nosniff always;
    # Content-hashed bundles and maps never change under their name.
    location ~ "\\.[A-Za-z0-9_-]{8,}\\.(js|js\\.map|d\\.ts)$" {
      add_header Cache-Control "public, max-age=31536000, immutable" always;
      add_header X-Content-Type-Options nosniff always;
    }
    # The manifest, its signature, the container: revalidated every time (ETag + If-None-Match -> 304).
    location / {
      add_header Cache-Control "no-cache" always;
      add_header X-Content-Type-Options nosniff always;
    }
  }
}
`;
}

/** A running nginx serving `root`. */
export interface RunningNginx {
  url: string;
  /** The access log's lines (`$uri $status "$http_if_none_match"`). */
  accessLog(): Promise<string[]>;
  stop(): Promise<void>;
}

/** Starts nginx serving `root` (throws where nginx is not installed). */
export async function startNginx(root: string): Promise<RunningNginx> {
  if (!NGINX) throw new Error('nginx is not installed (CI installs it: .ci/run)');
  const prefix = await createTempProject({});
  await mkdir(prefix.path('tmp'), { recursive: true });
  const port = await freePort();
  await writeFile(prefix.path('nginx.conf'), nginxConfig(prefix.dir, root, port));
  const nginx: ChildProcess = spawn(
    NGINX,
    ['-p', prefix.dir, '-e', prefix.path('error.log'), '-c', prefix.path('nginx.conf')],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  nginx.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  for (let i = 0; ; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      }).once('error', () => resolve(false));
    });
    if (up) break;
    if (i >= 100 || nginx.exitCode !== null) throw new Error(`nginx did not start: ${stderr}`);
    await sleep(50);
  }
  return {
    url: `http://127.0.0.1:${port}/`,
    accessLog: async () => (await readFile(prefix.path('access.log'), 'utf8')).trim().split('\n').filter(Boolean),
    async stop() {
      if (nginx.exitCode === null) {
        nginx.kill('SIGQUIT');
        await once(nginx, 'exit');
      }
      await prefix.remove();
    },
  };
}
