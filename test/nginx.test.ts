/**
 * Production serving without ferry: a real `ferry build` output (signed) served by a real nginx (Debian's package;
 * .ci/run installs it), configured as the README's deployment section says — hashed files immutable, the manifest,
 * its signature and the container revalidated — loads in a host, and a restarted host revalidates with a 304 and
 * fetches no file bytes. The test starts its own nginx on a free loopback port with a generated config in a
 * temporary folder, and stops it. Without an nginx binary it is skipped (say so loudly: CI must not skip it).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHost } from '../src/index.ts';
import { createRemoteProject, runFerry } from './helpers/build-fixture.ts';
import { createTempProject, REPO_ROOT, type TempProject } from './helpers/temp-project.ts';

function findNginx(): string | undefined {
  for (const candidate of ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/bin/nginx']) {
    try {
      execFileSync(candidate, ['-v'], { stdio: 'ignore' });
      return candidate;
    } catch {}
  }
  return undefined;
}

const NGINX = findNginx();

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** The nginx config the README documents, with paths and port for this test. */
function nginxConfig(prefix: string, root: string, port: number): string {
  return `${process.getuid?.() === 0 ? 'user root;\n' : ''}worker_processes 1;
daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 64; }
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

describe('a ferry build output served by nginx', {
  skip: NGINX ? false : 'nginx is not installed (CI installs it: .ci/run)',
}, () => {
  let remote: TempProject;
  let prefix: TempProject;
  let nginx: ChildProcess;
  let baseUrl: string;
  let publicKey: string;

  before(async () => {
    remote = await createRemoteProject();
    const keygen = await runFerry(['keygen', '--out', 'key.pem'], { cwd: remote.dir });
    assert.equal(keygen.code, 0, keygen.stderr);
    publicKey = /ed25519:[A-Za-z0-9_-]{43}/.exec(keygen.stdout + keygen.stderr)![0];
    const built = await runFerry(['build', '--sign', 'key.pem'], { cwd: remote.dir });
    assert.equal(built.code, 0, built.stderr);

    prefix = await createTempProject({});
    await mkdir(prefix.path('tmp'), { recursive: true });
    const port = await freePort();
    await writeFile(prefix.path('nginx.conf'), nginxConfig(prefix.dir, remote.path('dist/federation'), port));
    nginx = spawn(NGINX!, ['-p', prefix.dir, '-e', prefix.path('error.log'), '-c', prefix.path('nginx.conf')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    nginx.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    baseUrl = `http://127.0.0.1:${port}/`;
    for (let i = 0; ; i++) {
      const up = await new Promise<boolean>((resolve) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.destroy();
          resolve(true);
        }).once('error', () => resolve(false));
      });
      if (up) break;
      assert.ok(i < 100 && nginx.exitCode === null, `nginx did not start: ${stderr}`);
      await sleep(50);
    }
  });

  after(async () => {
    if (nginx && nginx.exitCode === null) {
      nginx.kill('SIGQUIT');
      await once(nginx, 'exit');
    }
    await prefix?.remove();
    await remote?.remove();
  });

  async function accessLog(): Promise<string[]> {
    return (await readFile(prefix.path('access.log'), 'utf8')).trim().split('\n').filter(Boolean);
  }

  test('serves the headers the README documents', async () => {
    const manifest = await fetch(`${baseUrl}mf-manifest.json`);
    assert.equal(manifest.status, 200);
    assert.equal(manifest.headers.get('cache-control'), 'no-cache');
    const etag = manifest.headers.get('etag');
    assert.match(etag ?? '', /^"[0-9a-f]+-[0-9a-f]+"$/, 'a strong ETag');
    const files = Object.keys(((await manifest.json()) as { ferry: { files: Record<string, unknown> } }).ferry.files);
    const hashed = files.find((name) => /\.[A-Za-z0-9_-]{8,}\.js$/.test(name))!;
    const bundle = await fetch(`${baseUrl}${hashed}`);
    await bundle.arrayBuffer();
    assert.equal(bundle.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    const again = await fetch(`${baseUrl}mf-manifest.json`, { headers: { 'if-none-match': etag! } });
    assert.equal(again.status, 304);
  });

  test('a host loads it, and a restarted host revalidates with a 304 and no file bytes', async () => {
    await using cache = await createTempProject({});
    const options = {
      name: 'h',
      remotes: { authService: { url: `${baseUrl}mf-manifest.json`, publicKey } },
      shared: { jsonwebtoken: { singleton: true } },
      root: REPO_ROOT,
      cache: { dir: cache.dir },
      onWarning: () => {},
      // This test counts requests: no live-update subscription (mf-manifest.events) or polls.
      live: { push: false, pollInterval: false as const },
    };
    const first = createHost(options);
    assert.equal((await first.import<{ answer: number }>('authService/other')).answer, 42);
    const validator = await first.import<{ maxAge: number }>('authService/tokenValidator');
    assert.equal(validator.maxAge, 86_400_000);
    await first.close();

    const before = (await accessLog()).length;
    const second = createHost(options);
    assert.equal((await second.import<{ answer: number }>('authService/other')).answer, 42);
    await second.close();
    const lines = (await accessLog()).slice(before);
    assert.equal(lines.length, 1, lines.join('\n'));
    // nginx escapes the quotes of the logged If-None-Match as \x22.
    assert.match(lines[0]!, /^\/mf-manifest\.json 304 "\\x22[0-9a-f]+-[0-9a-f]+\\x22"$/);
  });
});
