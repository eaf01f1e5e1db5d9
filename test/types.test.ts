/**
 * Types for remote modules, end to end with the real CLI: `ferry build` emits one self-contained declaration file
 * per expose (listed and hashed in the manifest), `ferry types` on a host fetches them verified into ferry-types/,
 * and the host's `tsc --noEmit` accepts correct calls and rejects wrong ones, for plain imports and `host.import()`.
 *
 * The fixture's sources follow TypeScript's isolatedDeclarations rules, so `ferry build` takes the fast path
 * (oxc-transform, no tsc) even though the remote has typescript installed: 'a remote without typescript gets the
 * same declarations' checks that. The tests at the end cover the tsc path, which sources that break the rules take.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { integrityOf, MANIFEST_FILE, parseManifest } from '../src/manifest/index.ts';
import { createFerryServer, type FerryServer } from '../src/server/index.ts';
import { CONFIG_TS, runFerry, runProcess, SOURCES } from './helpers/build-fixture.ts';
import { createTempProject, REPO_ROOT, type TempProject } from './helpers/temp-project.ts';

const OUT = join('dist', 'federation');
const TSC = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

/** The article's validator, split over two files so relative imports inside the declarations are exercised. */
const VALIDATOR = (params: string) => `import jwt from 'jsonwebtoken';
import type { User } from './user.ts';

export interface ValidationResult {
  isValid: boolean;
  user?: User;
  error?: string;
}

export async function validateJwtToken(${params}): Promise<ValidationResult> {
  try {
    return { isValid: true, user: jwt.verify(token, 'secret') as User };
  } catch (error) {
    return { isValid: false, error: (error as Error).message };
  }
}

export default validateJwtToken;
`;

const REMOTE_FILES = {
  ...SOURCES,
  'ferry.config.ts': CONFIG_TS,
  'src/user.ts': 'export interface User {\n  id: string;\n  username: string;\n}\n',
  'src/tokenValidator.ts': VALIDATOR('token: string'),
};

function createTypedRemote(link = ['typescript', '@types/jsonwebtoken', '@types/node']): Promise<TempProject> {
  return createTempProject(REMOTE_FILES, { link: ['jsonwebtoken', 'ms', ...link] });
}

const HOST_CONFIG = `export const host = {
  name: 'userService',
  remotes: { authServiceRemote: { name: 'authService', url: process.env.AUTH_URL } },
};
`;

const TSCONFIG = (file: string) =>
  JSON.stringify({
    compilerOptions: {
      module: 'nodenext',
      moduleResolution: 'nodenext',
      target: 'es2023',
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: ['node'],
    },
    include: [file, 'ferry-types'],
  });

const GOOD = `import validate, { validateJwtToken } from 'authServiceRemote/tokenValidator';
import { createHost } from 'ferry';

const direct = await validateJwtToken('a.b.c');
const name: string | undefined = direct.user?.username;
const viaDefault: boolean = (await validate('a.b.c')).isValid;
const host = createHost({ name: 'userService', remotes: {} });
const remote = await host.import('authServiceRemote/tokenValidator');
const result = await remote.validateJwtToken('a.b.c');
const valid: boolean = result.isValid;
const untyped = await host.import<{ anything: number }>('other/thing');
export const used = [name, viaDefault, valid, untyped.anything];
`;

const BAD = `import { validateJwtToken } from 'authServiceRemote/tokenValidator';
import { createHost } from 'ferry';

await validateJwtToken(42);
const host = createHost({ name: 'userService', remotes: {} });
const remote = await host.import('authServiceRemote/tokenValidator');
export const missing = remote.doesNotExist;
`;

async function hostProject(): Promise<TempProject> {
  const project = await createTempProject(
    {
      'package.json': JSON.stringify({ name: 'user-service', type: 'module' }),
      'ferry.config.mjs': HOST_CONFIG,
      'tsconfig.json': TSCONFIG('src/good.ts'),
      'tsconfig.bad.json': TSCONFIG('src/bad.ts'),
      'src/good.ts': GOOD,
      'src/bad.ts': BAD,
    },
    { link: ['jsonwebtoken', '@types/jsonwebtoken', '@types/node'] },
  );
  await symlink(REPO_ROOT, project.path('node_modules', 'ferry'), 'dir');
  return project;
}

async function typecheck(cwd: string, tsconfig: string): Promise<{ code: number | null; output: string }> {
  const { code, stdout, stderr } = await runProcess(process.execPath, [TSC, '-p', tsconfig, '--pretty', 'false'], {
    cwd,
  });
  return { code, output: stdout + stderr };
}

async function readManifest(outDir: string) {
  const file = join(outDir, MANIFEST_FILE);
  return parseManifest(await readFile(file), file);
}

describe('types for remote modules', () => {
  let remote: TempProject;
  let server: FerryServer;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    remote = await createTypedRemote();
    const built = await runFerry(['build'], { cwd: remote.dir });
    assert.equal(built.code, 0, built.stderr);
    server = await createFerryServer({ dir: remote.path(OUT), port: 0 });
    env = { AUTH_URL: `${server.url}mf-manifest.json`, NODE_NO_WARNINGS: '1' };
  });
  after(async () => {
    await server?.close();
    await remote?.remove();
  });

  test('ferry build lists one hashed, self-contained .d.ts per expose in the manifest', async () => {
    const outDir = remote.path(OUT);
    const manifest = await readManifest(outDir);
    for (const key of ['./tokenValidator', './other']) {
      const types = manifest.ferry.exposes[key]?.types;
      assert.ok(types, `exposes[${key}].types`);
      assert.match(types, /^[a-zA-Z]+\.[0-9a-f]{10}\.d\.ts$/);
      const bytes = await readFile(join(outDir, types));
      assert.deepEqual(manifest.ferry.files[types], { size: bytes.byteLength, integrity: integrityOf(bytes) });
    }
    const text = await readFile(join(outDir, manifest.ferry.exposes['./tokenValidator']!.types!), 'utf8');
    assert.match(text, /declare module "__FERRY_REMOTE__\/tokenValidator"/);
    assert.match(text, /export \{ default \} from/);
    // The relative import of ./user.ts became the ambient name of its own block; no relative specifier is left.
    assert.match(text, /declare module "__FERRY_REMOTE__\/__types\/tokenValidator\/src\/user"/);
    assert.doesNotMatch(text, /from ["']\.\.?\//);
  });

  test('ferry types writes verified declarations that type both imports and host.import(), without casts', async () => {
    await using host = await hostProject();
    const fetched = await runFerry(['types'], { cwd: host.dir, env });
    assert.equal(fetched.code, 0, fetched.stderr);
    assert.match(fetched.stdout, /Wrote types of 2 remote module\(s\) into ferry-types/);
    const files = (await readdir(host.path('ferry-types'))).sort();
    assert.deepEqual(files, [
      '.ferry-types.json',
      'authServiceRemote.other.d.ts',
      'authServiceRemote.tokenValidator.d.ts',
      'index.d.ts',
    ]);
    const declarations = await readFile(host.path('ferry-types', 'authServiceRemote.tokenValidator.d.ts'), 'utf8');
    assert.doesNotMatch(declarations, /__FERRY_REMOTE__/);

    const good = await typecheck(host.dir, 'tsconfig.json');
    assert.equal(good.code, 0, good.output);
    const bad = await typecheck(host.dir, 'tsconfig.bad.json');
    assert.notEqual(bad.code, 0);
    assert.match(bad.output, /src\/bad\.ts\(4,\d+\): error TS2345: Argument of type 'number'/);
    assert.match(bad.output, /src\/bad\.ts\(7,\d+\): error TS2339: Property 'doesNotExist' does not exist/);
  });

  test('re-running ferry types after the remote changes its signature updates the declarations', async () => {
    await using host = await hostProject();
    assert.equal((await runFerry(['types'], { cwd: host.dir, env })).code, 0);
    assert.equal((await typecheck(host.dir, 'tsconfig.json')).code, 0);
    await remote.write('src/tokenValidator.ts', VALIDATOR('token: string, audience: string'));
    try {
      // A new required parameter is a breaking change: as the same version it needs the override.
      const rebuilt = await runFerry(['build', '--allow-breaking', 'a test of ferry types'], { cwd: remote.dir });
      assert.equal(rebuilt.code, 0, rebuilt.stderr);
      const fetched = await runFerry(['types'], { cwd: host.dir, env });
      assert.equal(fetched.code, 0, fetched.stderr);
      const declarations = await readFile(host.path('ferry-types', 'authServiceRemote.tokenValidator.d.ts'), 'utf8');
      assert.match(declarations, /audience: string/);
      const stale = await typecheck(host.dir, 'tsconfig.json');
      assert.notEqual(stale.code, 0);
      assert.match(stale.output, /src\/good\.ts\(4,\d+\): error TS2554: Expected 2 arguments/);
    } finally {
      await remote.write('src/tokenValidator.ts', VALIDATOR('token: string'));
      assert.equal((await runFerry(['build'], { cwd: remote.dir })).code, 0);
    }
  });

  test('ferry types removes files it wrote earlier that no remote lists any more, and nothing else', async () => {
    await using host = await hostProject();
    await host.write('ferry-types/authServiceRemote.gone.d.ts', 'declare module "authServiceRemote/gone" {}\n');
    await host.write(
      'ferry-types/.ferry-types.json',
      JSON.stringify({ remotes: { old: ['authServiceRemote.gone.d.ts'] } }),
    );
    await host.write('ferry-types/notes.d.ts', '// mine\n');
    const fetched = await runFerry(['types', '--out', 'ferry-types'], { cwd: host.dir, env });
    assert.equal(fetched.code, 0, fetched.stderr);
    assert.match(fetched.stdout, /removed 1 stale file/);
    const files = await readdir(host.path('ferry-types'));
    assert.ok(!files.includes('authServiceRemote.gone.d.ts'));
    assert.ok(files.includes('notes.d.ts'));
    assert.ok(!files.some((name) => name.endsWith('.tmp')));
  });

  test('a remote without typescript gets the same declarations, byte for byte: the fast path needs no tsc', async () => {
    // The same bytes also show that the remote above, which has typescript, took the fast path: tsc's output is
    // formatted differently (4-space indents, the source's quotes), so its files would hash differently.
    await using bare = await createTypedRemote([]);
    const built = await runFerry(['build'], { cwd: bare.dir });
    assert.equal(built.code, 0, built.stderr);
    assert.doesNotMatch(built.stderr, /warning/, built.stderr);
    const [withTsc, without] = [await readManifest(remote.path(OUT)), await readManifest(bare.path(OUT))];
    for (const key of ['./tokenValidator', './other']) {
      assert.ok(without.ferry.exposes[key]?.types, `exposes[${key}].types`);
      assert.equal(without.ferry.exposes[key]?.types, withTsc.ferry.exposes[key]?.types, key);
    }
  });

  test('a declaration file that does not match the manifest is refused with exit 1 and the integrity error', async () => {
    await using host = await hostProject();
    const manifest = await readManifest(remote.path(OUT));
    const file = remote.path(OUT, manifest.ferry.exposes['./other']!.types!);
    const original = await readFile(file, 'utf8');
    await writeFile(file, original.replace('number', 'string'));
    try {
      const fetched = await runFerry(['types'], { cwd: host.dir, env });
      assert.equal(fetched.code, 1);
      assert.match(fetched.stderr, /remote "authServiceRemote".*does not match its manifest.*ERR_FERRY_INTEGRITY/);
    } finally {
      await writeFile(file, original);
    }
  });
});

test('a remote without typescript whose sources break the isolatedDeclarations rules builds, with one warning; ferry types then warns naming it', async () => {
  await using remote = await createTypedRemote([]);
  // An exported function whose return type only tsc can infer (from `a * 2`), and tsc is not installed.
  await remote.write('src/other.ts', 'export function answer(a: number) {\n  return a * 2;\n}\n');
  const built = await runFerry(['build'], { cwd: remote.dir });
  assert.equal(built.code, 0, built.stderr);
  const warnings = built.stderr.split('\n').filter((line) => line.startsWith('ferry build: warning:'));
  assert.equal(warnings.length, 1, built.stderr);
  assert.match(warnings[0]!, /no type declarations for hosts: no `typescript` package is installed/);
  const manifest = await readManifest(remote.path(OUT));
  assert.equal(manifest.ferry.exposes['./tokenValidator']?.types, undefined);
  assert.ok(!(await readdir(remote.path(OUT))).some((name) => name.endsWith('.d.ts')));

  const server = await createFerryServer({ dir: remote.path(OUT), port: 0 });
  await using host = await hostProject();
  const fetched = await runFerry(['types'], { cwd: host.dir, env: { AUTH_URL: `${server.url}mf-manifest.json` } });
  await server.close();
  assert.equal(fetched.code, 0, fetched.stderr);
  assert.match(
    fetched.stderr,
    /warning: remote "authServiceRemote" \(authService 1\.2\.0\) publishes no type declarations/,
  );
});

test('dts: false turns declarations off; a non-boolean dts is an invalid option', async () => {
  await using remote = await createTypedRemote();
  await remote.write('ferry.config.ts', CONFIG_TS.replace("name: 'authService',", "name: 'authService', dts: false,"));
  const off = await runFerry(['build'], { cwd: remote.dir });
  assert.equal(off.code, 0, off.stderr);
  assert.match(off.stderr, /no type declarations for hosts: `dts` is false/);
  assert.ok(!(await readdir(remote.path(OUT))).some((name) => name.endsWith('.d.ts')));

  await remote.write('ferry.config.ts', CONFIG_TS.replace("name: 'authService',", "name: 'authService', dts: 'yes',"));
  const invalid = await runFerry(['build'], { cwd: remote.dir });
  assert.equal(invalid.code, 1);
  assert.match(invalid.stderr, /dts must be true or false.*ERR_FERRY_INVALID_OPTION/);
});

test('on the tsc path, type errors in the remote are a warning, and the declarations are still emitted', async () => {
  await using remote = await createTypedRemote();
  // The return type is left to inference from a variable, which the isolatedDeclarations rules do not allow
  // (TS9007), so the build runs tsc, which type-checks.
  await remote.write(
    'src/other.ts',
    "export function answer() {\n  const n: number = 'not a number';\n  return n;\n}\n",
  );
  const built = await runFerry(['build'], { cwd: remote.dir });
  assert.equal(built.code, 0, built.stderr);
  assert.match(built.stderr, /warning: type errors in the remote's sources.*\n.*src\/other\.ts\(2,9\): error TS2322/);
  // The summary says why this build needed tsc (the slow path), naming the file and the rule.
  assert.match(built.stdout, /Type declarations written by tsc, because src\/other\.ts: .*\n/);
  const manifest = await readManifest(remote.path(OUT));
  const text = await readFile(remote.path(OUT, manifest.ferry.exposes['./other']!.types!), 'utf8');
  assert.match(text, /export function answer\(\): number;/);
});

test('on the fast path ferry build does not type-check: a type error in annotated sources passes silently', async () => {
  await using remote = await createTypedRemote();
  // Annotated as the isolatedDeclarations rules ask, so no tsc runs and nothing reports the error: run
  // `tsc --noEmit` in CI for that. Hosts see the types as written.
  await remote.write('src/other.ts', "export const answer: number = 'not a number';\n");
  const built = await runFerry(['build'], { cwd: remote.dir });
  assert.equal(built.code, 0, built.stderr);
  assert.doesNotMatch(built.stderr, /warning/, built.stderr);
  assert.doesNotMatch(built.stdout, /written by tsc/);
  const manifest = await readManifest(remote.path(OUT));
  const text = await readFile(remote.path(OUT, manifest.ferry.exposes['./other']!.types!), 'utf8');
  assert.match(text, /export const answer: number;/);
});

test('a remote that cannot be fetched fails ferry types with its typed error', async () => {
  await using host = await hostProject();
  const fetched = await runFerry(['types'], {
    cwd: host.dir,
    env: { AUTH_URL: 'http://127.0.0.1:9/mf-manifest.json' },
  });
  assert.equal(fetched.code, 1);
  assert.match(fetched.stderr, /ferry types: remote "authServiceRemote": .*127\.0\.0\.1:9.*\[ERR_FERRY_NETWORK\]/);
});
