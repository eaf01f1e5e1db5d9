/**
 * What the contract check adds to `ferry build` of the demo remote: `bin/ferry.js build` of a copy of
 * examples/auth-service (one extra export, so its declarations differ from the demo's), wall clock of the whole
 * process, the three variants alternating, 5 runs each after one warm-up run of each:
 *
 * - `no check` — `--no-baseline`;
 * - `same API` — the default baseline, the copy's own previous build: declarations byte for byte the same, so the
 *   check compares export names and skips the compiler (every rebuild that does not change the API);
 * - `changed API` — `--baseline` the demo's own build: the declarations differ, so TypeScript's checker relates them.
 *
 * The copy lives in bench/work/ (ignored by git), with `node_modules/ferry` linked to this checkout for its config's
 * `ferry/build` import. Run `npm run build` first. Prints one line per variant and the medians' differences.
 *
 * @example
 * ```sh
 * npm run build && node bench/contract-check.ts
 * ```
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));
const demo = join(repo, 'examples', 'auth-service');
const copy = join(repo, 'bench', 'work', 'contract-auth');
const runs = Number(process.argv[2] ?? 5);

function ferry(args: string[]): number {
  const started = performance.now();
  const result = spawnSync(process.execPath, [join(repo, 'bin', 'ferry.js'), ...args], { cwd: repo });
  if (result.status !== 0) throw new Error(`ferry ${args.join(' ')} failed:\n${result.stderr}`);
  return performance.now() - started;
}

if (!existsSync(join(demo, '.keys'))) spawnSync(process.execPath, [join(demo, 'prepare.ts')], { stdio: 'inherit' });
ferry(['build', '--root', demo]);
rmSync(copy, { recursive: true, force: true });
cpSync(demo, copy, { recursive: true, filter: (source) => !source.includes(`${join(demo, 'dist')}`) });
// bench/ is a package of its own: the copy finds `ferry` through a link to this checkout.
mkdirSync(join(copy, 'node_modules'), { recursive: true });
symlinkSync(repo, join(copy, 'node_modules', 'ferry'), 'dir');
appendFileSync(
  join(copy, 'src', 'tokenValidator.ts'),
  '\n/** One more export than the demo. */\nexport const benchExtra: number = 1;\n',
);
ferry(['build', '--root', copy, '--no-baseline']);

const variants: Record<string, string[]> = {
  'no check': ['--no-baseline'],
  'same API': [],
  'changed API': ['--baseline', join(demo, 'dist', 'federation')],
};
const times: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
for (const args of Object.values(variants)) ferry(['build', '--root', copy, ...args]);
for (let run = 0; run < runs; run++) {
  for (const [name, args] of Object.entries(variants)) times[name]!.push(ferry(['build', '--root', copy, ...args]));
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const base = median(times['no check']!);
for (const [name, values] of Object.entries(times)) {
  const m = median(values);
  const delta =
    name === 'no check' ? '' : ` (${m - base >= 0 ? '+' : ''}${Math.round(m - base)} ms, ${(m / base).toFixed(2)}x)`;
  console.log(
    `${name.padEnd(12)} ${values
      .map((value) => Math.round(value))
      .join(' ')
      .padEnd(28)} median ${Math.round(m)} ms${delta}`,
  );
}
rmSync(copy, { recursive: true, force: true });
