/**
 * Remote code is compiled outside V8's compilation cache (src/runtime/evaluate/compile-uncached.ts), which otherwise
 * keeps every compiled version's source and functions alive (issue 21: ~0.7 MiB of heap per swap of a 200 KB
 * remote). In a child process with --expose-gc: 200 distinct ~30 KB sources compiled and run through
 * compileFerryModule must leave the heap flat, while the same through a plain vm.compileFunction (the control,
 * which shows this test can fail) grows it by about their size — and the cache is still on after ferry's compiles.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { REPO_ROOT } from './helpers/temp-project.ts';

const CHILD = `
import { compileFunction } from 'node:vm';
import { compileFerryModule } from './src/runtime/evaluate/ferry-module.ts';
const body = Array.from({ length: 250 }, (_, i) =>
  'function f' + i + '(a) { let t = 0; for (let k = 0; k < a.length; k++) t += a[k] * ' + i + '; return { t, s: "x' + i + '" + t }; }').join('\\n');
const heap = () => { gc(); gc(); return process.memoryUsage().heapUsed / 2 ** 20; };
const context = { require() {}, import: async () => ({}), moduleMeta: () => ({}), meta: { filename: 'x', dirname: '.' } };
async function growth(compile) {
  const before = heap();
  for (let i = 0; i < 200; i++) await compile(i);
  return heap() - before;
}
const tag = (kind, i) => 'const V = "' + kind + i + '";\\n' + body + '\\n';
const ferry = await growth((i) =>
  compileFerryModule('return (async () => {' + tag('ferry', i) + 'return __ferryNamespace({ v: () => V + f1([1]).t }, []); })();',
    'ferry://t@1.0.' + i + '/x.js', undefined)(context));
const plain = await growth((i) => compileFunction(tag('plain', i) + 'return f1([1]).t;', [], { filename: 'p' + i + '.js' })());
console.log(JSON.stringify({ ferry, plain }));
`;

test('remote code compiled 200 times leaves the heap flat; a plain compileFunction (the control) does not', () => {
  const result = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', CHILD], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(result.status, 0, result.stderr);
  const { ferry, plain } = JSON.parse(result.stdout.trim().split('\n').at(-1)!) as { ferry: number; plain: number };
  // ~30 KB of source each: ~6 MiB if V8 kept them all.
  assert.ok(plain > 3, `the control should grow the heap (V8's cache on after ferry's compiles): ${plain} MiB`);
  assert.ok(ferry < 1.5, `heap grew ${ferry} MiB over 200 compiles of distinct remote code`);
});
