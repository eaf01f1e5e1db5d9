/**
 * The development loop's speed: the time from saving a source file of a remote to a running host serving the new
 * code, with `ferry build --watch`, `ferry serve` and a host (a separate process) that uses live updates (push
 * channel). Each round changes the exposed function's return value and waits until the host's live binding returns
 * it.
 *
 * @example
 * ```sh
 * npm run build && node bench/watch-loop.ts --rounds 10
 * ```
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const root = join(import.meta.dirname, '..');
const bin = join(root, 'bin', 'ferry.js');
const { values } = parseArgs({ options: { rounds: { type: 'string', default: '10' } } });
const rounds = Number(values.rounds);

const dir = await mkdtemp(join(tmpdir(), 'ferry-watch-loop-'));
const source = (n: number) => `export function greet(): string {\n  return 'version ${n}';\n}\n`;
await mkdir(join(dir, 'src'));
await mkdir(join(dir, 'node_modules'));
await symlink(root, join(dir, 'node_modules', 'ferry'), 'dir');
await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'greeter', version: '1.0.0', type: 'module' }));
await writeFile(join(dir, 'src/greet.ts'), source(0));
await writeFile(
  join(dir, 'ferry.config.ts'),
  "export default { name: 'greeter', exposes: { './greet': './src/greet.ts' }, dts: false };\n",
);
await writeFile(
  join(dir, 'host.mjs'),
  `import { createHost } from 'ferry';
const host = createHost({ name: 'devHost', remotes: { greeter: process.env.REMOTE }, onWarning: () => {} });
const remote = await host.live('greeter/greet');
let last;
setInterval(() => {
  const value = remote.greet();
  if (value !== last) { last = value; console.log('serving ' + value + ' at ' + Date.now()); }
}, 1);
`,
);

const children: ChildProcess[] = [];
/** Starts a process and resolves with the first match of `pattern` in its stdout; `lines` sees every line after. */
function start(args: string[], pattern: RegExp, env: NodeJS.ProcessEnv = process.env, lines?: (line: string) => void) {
  const child = spawn(process.execPath, args, { cwd: dir, env });
  children.push(child);
  child.stderr.pipe(process.stderr);
  return new Promise<RegExpExecArray>((resolve) => {
    let text = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      text += chunk;
      const match = pattern.exec(text);
      if (match) resolve(match);
      for (const line of chunk.split('\n')) if (line) lines?.(line);
    });
  });
}

try {
  await start([bin, 'build', '--watch'], /built in \d+ ms/);
  const [, url] = await start([bin, 'serve', 'dist/federation', '--port', '0'], /at (http:\/\/\S+)/);
  let seen: (line: string) => void = () => {};
  await start(['host.mjs'], /serving version 0/, { ...process.env, REMOTE: `greeter@${url}mf-manifest.json` }, (line) =>
    seen(line),
  );
  const times: number[] = [];
  for (let n = 1; n <= rounds; n++) {
    const served = new Promise<number>((resolve) => {
      seen = (line) => {
        const match = new RegExp(`serving version ${n} at (\\d+)`).exec(line);
        if (match) resolve(Number(match[1]));
      };
    });
    const saved = Date.now();
    await writeFile(join(dir, 'src/greet.ts'), source(n));
    times.push((await served) - saved);
    await new Promise((resolve) => setTimeout(resolve, 1200));
  }
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  console.log(`save -> host serving the new code, ${rounds} rounds (ms): ${times.join(', ')}`);
  console.log(`median ${median} ms, min ${sorted[0]} ms, max ${sorted.at(-1)} ms`);
} finally {
  for (const child of children) child.kill('SIGINT');
  await rm(dir, { recursive: true, force: true });
}
