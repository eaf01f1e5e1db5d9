/**
 * ferry on Node 22 LTS. The suite itself runs on the Node the project pins (24: its tests use syntax such as
 * `await using` that Node 22 cannot parse), so this file runs the product — the CLI and the runtime from dist/ —
 * under a real Node 22 binary from the npm registry (`node-<platform>-<arch>`, cached like the other registry
 * packages): keygen, a signed build of a TypeScript remote, serve, verify, a host that imports and then live-updates,
 * and a CommonJS app that `require`s the remote module under `node --import ferry/register`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type CliResult, runProcess } from './helpers/build-fixture.ts';
import { npmPackage } from './helpers/npm-packages.ts';
import { createTempProject, FERRY_BIN, REPO_ROOT, type TempProject } from './helpers/temp-project.ts';

/** The Node 22 LTS release the product is checked on (the newest 22 when this was written). */
const NODE_22 = '22.23.3';
const binaryPackage = `node-${process.platform}-${process.arch}`;

let node22: string;
let remote: TempProject;
let app: TempProject;
const children = new Set<ReturnType<typeof spawn>>();

/** Runs `args` with Node 22 to the end. */
function run22(args: string[], cwd: string, env: Record<string, string> = {}): Promise<CliResult> {
  return runProcess(node22, args, { cwd, env: { ...process.env, ...env } });
}

/** Starts `args` with Node 22 and resolves with the first match of `pattern` in its output. */
function start22(args: string[], cwd: string, pattern: RegExp, env: Record<string, string> = {}): Promise<string> {
  const child = spawn(node22, args, { cwd, env: { ...process.env, ...env } });
  children.add(child);
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}:\n${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk;
      const match = pattern.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1] ?? match[0]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code}) before ${pattern}:\n${output}`));
    });
  });
}

const validator = (greeting: string) => `import { shout } from './shout.ts';
export interface Greeting { text: string; node: string }
export function greet(name: string): Greeting {
  return { text: shout('${greeting}, ' + name), node: process.versions.node };
}
`;

before(async () => {
  node22 = join(await npmPackage(binaryPackage, NODE_22), 'bin', 'node');
  remote = await createTempProject({
    'package.json': JSON.stringify({ name: 'greeter', version: '1.0.0', type: 'module' }),
    'ferry.config.json': JSON.stringify({ name: 'greeter', exposes: { './greet': './src/greet.ts' } }),
    'src/shout.ts': "export const shout = (text: string): string => text + '!';\n",
    'src/greet.ts': validator('hello'),
  });
  app = await createTempProject({
    'package.json': JSON.stringify({ name: 'app', type: 'commonjs' }),
    'ferry.config.mjs': `export const host = {
  name: 'app',
  remotes: { greeter: { url: process.env.GREETER_URL, publicKey: process.env.GREETER_KEY } },
};
`,
    'index.js': `const { greet } = require('greeter/greet');
console.log(JSON.stringify(greet('register')));
`,
    'host.mjs': `import { createHost } from 'ferry';
const host = createHost({
  name: 'app',
  remotes: { greeter: { url: process.env.GREETER_URL, publicKey: process.env.GREETER_KEY } },
  requireSignatures: true,
  live: { pollInterval: false, push: false },
});
const first = await host.live('greeter/greet');
console.log('first ' + JSON.stringify(first.greet('host')));
process.stdin.once('data', async () => {
  const [outcome] = await host.update('greeter');
  console.log('update ' + outcome.status + ' ' + JSON.stringify(first.greet('host')));
  await host.close();
});
`,
  });
  // The app has ferry installed the way a user's service has it: node_modules/ferry.
  await mkdir(join(app.dir, 'node_modules'), { recursive: true });
  await symlink(REPO_ROOT, join(app.dir, 'node_modules', 'ferry'), 'dir');
});

after(async () => {
  for (const child of children) child.kill('SIGKILL');
  await remote?.remove();
  await app?.remove();
});

test(`the CLI and the runtime work on Node ${NODE_22}`, async () => {
  assert.equal((await run22(['--version'], remote.dir)).stdout.trim(), `v${NODE_22}`);
  await readFile(join(REPO_ROOT, 'dist', 'index.js')).catch(() => {
    throw new Error('dist/ is missing: run `npm run build` before this test (npm test does).');
  });

  const keygen = await run22([FERRY_BIN, 'keygen', '--out', 'signing.pem'], remote.dir);
  assert.equal(keygen.code, 0, keygen.stderr);
  const publicKey = /Public key: (\S+)/.exec(keygen.stdout)?.[1];
  assert.ok(publicKey, keygen.stdout);

  const build = await run22([FERRY_BIN, 'build', '--sign', 'signing.pem'], remote.dir);
  assert.equal(build.code, 0, build.stderr);
  const out = join(remote.dir, 'dist', 'federation');
  const url = await start22([FERRY_BIN, 'serve', out, '--port', '0'], remote.dir, / at (http:\/\/\S+?)\/?\n/);
  const manifestUrl = `${url}/mf-manifest.json`;

  const verify = await run22([FERRY_BIN, 'verify', url, '--key', publicKey], remote.dir);
  assert.equal(verify.code, 0, `${verify.stdout}${verify.stderr}`);

  const env = { GREETER_URL: manifestUrl, GREETER_KEY: publicKey, FERRY_CACHE_DIR: join(app.dir, '.cache') };
  const viaRegister = await run22(['--import', 'ferry/register', 'index.js'], app.dir, env);
  assert.equal(viaRegister.code, 0, viaRegister.stderr);
  assert.deepEqual(JSON.parse(viaRegister.stdout), { text: 'hello, register!', node: NODE_22 });

  // A host that loads the remote, then swaps in a rebuilt version without a restart.
  const child = spawn(node22, ['host.mjs'], { cwd: app.dir, env: { ...process.env, ...env } });
  children.add(child);
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr.on('data', (chunk) => {
    output += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const waitFor = async (pattern: RegExp) => {
    for (const deadline = Date.now() + 20_000; !pattern.test(output); ) {
      if (Date.now() > deadline || child.exitCode !== null) assert.fail(`no ${pattern} in:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };
  await waitFor(/^first /m);
  assert.match(output, /first \{"text":"hello, host!","node":"22\.23\.3"\}/);
  await remote.write('src/greet.ts', validator('welcome'));
  const rebuild = await run22([FERRY_BIN, 'build', '--sign', 'signing.pem'], remote.dir);
  assert.equal(rebuild.code, 0, rebuild.stderr);
  child.stdin.write('\n');
  await waitFor(/^update /m);
  assert.match(output, /update activated \{"text":"welcome, host!","node":"22\.23\.3"\}/);
  child.stdin.end();
  assert.equal(await exited, 0, output);
});
