/**
 * Contracts end to end, with the real CLI and a real host: v1 of a remote is built and served; a v2 that adds a
 * required parameter is refused by `ferry build --baseline <url>` as a patch release and accepted as a new major;
 * a host with `versionRange: '^1'` keeps v1 live and reports `contract`, while a host that only uses another expose
 * takes v2; `ferry check` in a host project fails against the breaking release (with the compiler's error) and
 * passes against a compatible one, for a createHost() host (remotes on the command line) and a ferry/register host
 * (ferry.config.mjs).
 */
import assert from 'node:assert/strict';
import { readFile, symlink, writeFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { createHost, type UpdateMessage } from '../src/index.ts';
import { MANIFEST_FILE, parseManifest } from '../src/manifest/index.ts';
import { createFerryServer, type FerryServer } from '../src/server/index.ts';
import { runFerry } from './helpers/build-fixture.ts';
import { createTempProject, REPO_ROOT, type TempProject } from './helpers/temp-project.ts';

const V1 = 'export function validateJwtToken(token: string): boolean {\n  return token.length > 0;\n}\n';
const V2 =
  'export interface ValidateOptions {\n  audience: string;\n}\n' +
  'export function validateJwtToken(token: string, options: ValidateOptions): boolean {\n' +
  '  return token.length > 0 && options.audience !== "";\n}\n';
const V3 = V2.replace('options: ValidateOptions', 'options?: ValidateOptions').replace(
  'options.audience',
  'options?.audience',
);
const USERS = 'export function userCount(): number {\n  return 2;\n}\n';

const pkg = (version: string) => JSON.stringify({ name: 'auth-service', version, type: 'module' });

let remote: TempProject;
let hostProject: TempProject;
let server: FerryServer;
let url: string;

before(async () => {
  remote = await createTempProject({
    'package.json': pkg('1.0.0'),
    'ferry.config.json': JSON.stringify({
      name: 'authService',
      exposes: { './tokenValidator': './src/tokenValidator.ts', './users': './src/users.ts' },
    }),
    'src/tokenValidator.ts': V1,
    'src/users.ts': USERS,
  });
  const built = await runFerry(['build'], { cwd: remote.dir });
  assert.equal(built.code, 0, built.stderr);
  assert.match(built.stdout, /API: no earlier release to compare with/);
  server = await createFerryServer({ dir: remote.path('dist', 'federation'), port: 0 });
  url = `${server.url}mf-manifest.json`;

  hostProject = await createTempProject(
    {
      'package.json': JSON.stringify({ name: 'user-service', type: 'module' }),
      'ferry.config.mjs':
        "export const host = { name: 'userService', remotes: { authService: { url: process.env.AUTH_URL } } };\n",
      'tsconfig.json': JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2023',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: ['node'],
        },
        include: ['src', 'ferry-types'],
      }),
      'src/app.ts':
        "import { validateJwtToken } from 'authService/tokenValidator';\n\nexport const valid: boolean = validateJwtToken('a.b.c');\n",
    },
    { link: ['typescript', '@types/node'] },
  );
  await symlink(REPO_ROOT, hostProject.path('node_modules', 'ferry'), 'dir');
});

after(async () => {
  await server?.close();
  await remote?.remove();
  await hostProject?.remove();
});

async function servedVersion(): Promise<string> {
  const file = remote.path('dist', 'federation', MANIFEST_FILE);
  return parseManifest(await readFile(file), file).ferry.version;
}

function host(remoteOptions: { versionRange?: string; uses?: string[] }, cacheDir: string) {
  const events: UpdateMessage[] = [];
  const created = createHost({
    name: 'userService',
    remotes: { authService: { url, ...remoteOptions } },
    cache: { dir: cacheDir },
    live: { pollInterval: false, push: false, onUpdate: (event) => events.push(event) },
    onWarning: () => {},
  });
  return { host: created, events };
}

test('a breaking change: refused as a patch, released as a major, kept out of a ^1 host live, caught by ferry check', async () => {
  const ranged = host({ versionRange: '^1' }, hostProject.path('.cache-a'));
  const usesUsers = host({ uses: ['./users'] }, hostProject.path('.cache-b'));
  const noRange = host({}, hostProject.path('.cache-c'));
  after(() => Promise.all([ranged.host.close(), usesUsers.host.close(), noRange.host.close()]));
  const v1 = await ranged.host.import<{ validateJwtToken(token: string): boolean }>('authService/tokenValidator');
  assert.equal(v1.validateJwtToken('t'), true);
  await usesUsers.host.import('authService/users');
  await noRange.host.import('authService/tokenValidator');

  const checkArgs = ['check', '--remote', `authService=${url}`];
  const first = await runFerry(checkArgs, { cwd: hostProject.dir });
  assert.equal(first.code, 0, `${first.stdout}${first.stderr}`);
  assert.match(first.stdout, /compiles against the current API of 1 remote/);
  // A host config with a Module Federation remote as well: that one has no ferry declarations and is said to be
  // unchecked, not counted as checked (its URL is never fetched here).
  await writeFile(
    hostProject.path('ferry.mixed.config.mjs'),
    `export const host = { name: 'userService', remotes: {
      authService: ${JSON.stringify(url)},
      legacyAuth: { url: 'http://127.0.0.1:9/mf-manifest.json', type: 'module-federation' },
    } };\n`,
  );
  const mixed = await runFerry(['check', '--config', 'ferry.mixed.config.mjs'], { cwd: hostProject.dir });
  assert.equal(mixed.code, 0, `${mixed.stdout}${mixed.stderr}`);
  assert.match(
    mixed.stdout,
    /compiles against the current API of 1 remote\(s\) .*; 1 Module Federation remote\(s\) not checked/,
  );

  // v2 adds a required parameter. As a patch release it is refused, and nothing is written.
  await remote.write('src/tokenValidator.ts', V2);
  await remote.write('package.json', pkg('1.0.1'));
  const patch = await runFerry(['build', '--baseline', server.url], { cwd: remote.dir });
  assert.equal(patch.code, 1, patch.stdout);
  assert.match(patch.stderr, /Remote "authService" 1\.0\.1 breaks its API compared with 1\.0\.0/);
  assert.match(patch.stderr, /\.\/tokenValidator {2}validateJwtToken: new required parameter `options`/);
  assert.match(patch.stderr, /was {2}function validateJwtToken\(token: string\): boolean;/);
  assert.match(patch.stderr, /now {2}function validateJwtToken\(token: string, options: ValidateOptions\): boolean;/);
  assert.match(patch.stderr, /\[ERR_FERRY_BREAKING_CHANGE\]/);
  assert.equal(await servedVersion(), '1.0.0');

  // As a new major it is released, and the summary lists the classification.
  await remote.write('package.json', pkg('2.0.0'));
  const major = await runFerry(['build', '--baseline', server.url], { cwd: remote.dir });
  assert.equal(major.code, 0, major.stderr);
  assert.match(major.stdout, /API compared with 1\.0\.0 \(http:\/\/127\.0\.0\.1:\d+\/mf-manifest\.json\)/);
  assert.match(major.stdout, /\.\/tokenValidator: 1 breaking \(validateJwtToken\), 1 compatible \(ValidateOptions\)/);
  assert.match(major.stdout, /\.\/users: 1 unchanged/);
  assert.equal(await servedVersion(), '2.0.0');

  // The host that accepts ^1 keeps v1 and says why; the one that only uses ./users takes v2.
  const [refused] = await ranged.host.update('authService');
  assert.equal(refused?.status, 'refused');
  assert.equal(ranged.host.loadedVersion('authService'), '1.0.0');
  const event = ranged.events.find((candidate) => candidate.type === 'refused');
  assert.equal(event?.reason, 'contract');
  assert.deepEqual(event?.breaking, ['./tokenValidator#validateJwtToken']);
  assert.match(String(event?.error?.message), /breaks the API of 1\.0\.0: \.\/tokenValidator validateJwtToken/);
  assert.equal((await ranged.host.import<typeof v1>('authService/tokenValidator')).validateJwtToken('t'), true);
  const [taken] = await usesUsers.host.update('authService');
  assert.equal(taken?.status, 'activated', String(taken?.error));
  assert.equal(usesUsers.host.loadedVersion('authService'), '2.0.0');

  // ferry check fails on the breaking release with the compiler's error: a ferry/register host (its config)…
  const env = { AUTH_URL: url, NODE_NO_WARNINGS: '1' };
  const broken = await runFerry(['check'], { cwd: hostProject.dir, env });
  assert.equal(broken.code, 1, broken.stdout);
  assert.match(broken.stderr, /src\/app\.ts\(3,\d+\): error TS2554: Expected 2 arguments, but got 1\./);
  assert.match(broken.stderr, /does not compile against the API its remotes serve now/);
  // …and a createHost() host (remotes on the command line).
  assert.equal((await runFerry(checkArgs, { cwd: hostProject.dir })).code, 1);

  // A compatible release (the parameter becomes optional) passes both.
  await remote.write('src/tokenValidator.ts', V3);
  await remote.write('package.json', pkg('2.1.0'));
  const minor = await runFerry(['build', '--baseline', server.url], { cwd: remote.dir });
  assert.equal(minor.code, 0, minor.stderr);
  assert.match(minor.stdout, /\.\/tokenValidator: 1 compatible \(validateJwtToken\), 1 unchanged/);
  // A host without a range that missed 2.0.0 (the breaking build) does not jump from 1.0.0 to 2.1.0 either: 2.1.0
  // is compatible with 2.0.0, not with what it runs. The host on 2.0.0 takes it.
  const [skipped] = await noRange.host.update('authService');
  assert.equal(skipped?.status, 'refused');
  const skippedEvent = noRange.events.find((candidate) => candidate.type === 'refused');
  assert.equal(skippedEvent?.reason, 'contract');
  assert.match(String(skippedEvent?.error?.message), /2\.1\.0 .* is a new major version since 1\.0\.0/);
  assert.equal((await usesUsers.host.update('authService'))[0]?.status, 'activated');

  const fixed = await runFerry(['check'], { cwd: hostProject.dir, env });
  assert.equal(fixed.code, 0, `${fixed.stdout}${fixed.stderr}`);
  assert.equal((await runFerry(checkArgs, { cwd: hostProject.dir })).code, 0);
});
