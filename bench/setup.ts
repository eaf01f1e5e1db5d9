/**
 * Lays out the three variants in a temporary folder, each a small project of its own:
 *
 * - `webpack/remote`, `webpack/host`: bench/variants/webpack/* (the article's configs with the documented fixes);
 * - `ferry/remote`: the demo's auth service config and validator (examples/auth-service), with its own keys;
 * - `ferry/user-service`: the demo's user service (examples/user-service + examples/common), pointed at it;
 * - `local`: bench/variants/local/server.ts with the demo's validator beside it.
 *
 * The hosts run as plain JavaScript, like the webpack host's bundle: the TypeScript sources are copied with their
 * types stripped (node:module stripTypeScriptTypes), so no variant pays for Node's type stripping at start-up.
 *
 * - `ferry/remote-nodts`: the same remote with `dts: false` (the build figure without type declarations, shown beside
 *   the default one);
 * - `ferry/remote-next`: the same remote's sources, rebuilt into the served folder with a changed validator for the
 *   live-update figure (see {@link writeNextValidator}).
 *
 * All use one JWT key pair (the validators check ES256 tokens against its public key) and get a `node_modules` of
 * symlinks into bench/node_modules, so nothing is installed per run and webpack-node-externals finds the packages
 * where the article's project has them. The remotes link `ferry` to the repository (they need its build tooling);
 * the ferry host gets ferry laid out as `npm install ferry` would (package.json and dist/ inside its node_modules,
 * its dependency semver resolved from the host's node_modules, deduplicated with jsonwebtoken's as npm does).
 *
 * @example
 * ```ts
 * const layout = await createLayout();
 * console.log(layout.root, layout.token);
 * ```
 */
import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { stripTypeScriptTypes } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import jwt from 'jsonwebtoken';
import { generateSigningKeys } from '../src/manifest/index.ts';

export const REPO = join(import.meta.dirname, '..');
export const BENCH = import.meta.dirname;
export const BENCH_MODULES = join(BENCH, 'node_modules');

/** Where each variant lives, and what the hosts need. */
export interface Layout {
  root: string;
  webpackRemote: string;
  webpackHost: string;
  ferryRemote: string;
  /** The same remote with `dts: false`. */
  ferryRemoteNoDts: string;
  /** The remote's sources for the live-update builds (written with {@link writeNextValidator}). */
  ferryRemoteNext: string;
  /** The demo's user service as JavaScript: run `server.js` here. */
  ferryHost: string;
  /** The local-require baseline: run `server.js` here. */
  local: string;
  /** A valid token for alice (admin), signed with the bench's JWT private key. */
  token: string;
  /** The ferry public key (`ed25519:…`) the ferry host pins. */
  ferryPublicKey: string;
}

/** Creates the temp folder and every variant's project in it. */
export async function createLayout(): Promise<Layout> {
  const root = await mkdtemp(join(tmpdir(), 'ferry-bench-'));
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const token = jwt.sign({ username: 'alice', role: 'admin' }, privateKey.export({ type: 'pkcs8', format: 'pem' }), {
    algorithm: 'ES256',
    expiresIn: '2h',
    issuer: 'authService',
    subject: '1',
  });
  const tsKeyModule = `export const JWT_PUBLIC_KEY = ${JSON.stringify(publicPem)};\n`;
  const examples = join(REPO, 'examples', 'auth-service');

  const webpackRemote = join(root, 'webpack', 'remote');
  const webpackHost = join(root, 'webpack', 'host');
  await cp(join(BENCH, 'variants', 'webpack', 'remote'), webpackRemote, { recursive: true });
  await cp(join(BENCH, 'variants', 'webpack', 'host'), webpackHost, { recursive: true });
  await writeFile(
    join(webpackRemote, 'src', 'jwt-public-key.generated.js'),
    `exports.JWT_PUBLIC_KEY = ${JSON.stringify(publicPem)};\n`,
  );

  const ferryRemote = join(root, 'ferry', 'remote');
  await mkdir(join(ferryRemote, 'src'), { recursive: true });
  await mkdir(join(ferryRemote, '.keys'), { recursive: true });
  await cp(join(examples, 'ferry.config.ts'), join(ferryRemote, 'ferry.config.ts'));
  await cp(join(examples, 'src', 'tokenValidator.ts'), join(ferryRemote, 'src', 'tokenValidator.ts'));
  await writeFile(join(ferryRemote, 'src', 'jwt-public-key.generated.ts'), tsKeyModule);
  const signing = generateSigningKeys();
  await writeFile(join(ferryRemote, '.keys', 'ferry-signing-key.pem'), signing.privateKeyPem, { mode: 0o600 });
  await writeFile(join(ferryRemote, 'package.json'), '{ "private": true, "type": "module" }\n');
  const ferryRemoteNoDts = join(root, 'ferry', 'remote-nodts');
  const ferryRemoteNext = join(root, 'ferry', 'remote-next');
  for (const copy of [ferryRemoteNoDts, ferryRemoteNext]) await cp(ferryRemote, copy, { recursive: true });
  const config = await readFile(join(ferryRemote, 'ferry.config.ts'), 'utf8');
  const noDts = config.replace("outDir: 'dist/federation',", "outDir: 'dist/federation',\n  dts: false,");
  if (noDts === config) throw new Error('examples/auth-service/ferry.config.ts changed shape: update bench/setup.ts');
  await writeFile(join(ferryRemoteNoDts, 'ferry.config.ts'), noDts);

  const ferryHost = join(root, 'ferry', 'user-service');
  const demo = join(REPO, 'examples');
  await writeFile(join(root, 'ferry', 'package.json'), '{ "private": true, "type": "module" }\n');
  await copyAsJs(join(demo, 'user-service', 'server.ts'), join(ferryHost, 'server.js'));
  await copyAsJs(join(demo, 'user-service', 'validator-loader.ts'), join(ferryHost, 'validator-loader.js'));
  await copyAsJs(join(demo, 'common', 'service.ts'), join(root, 'ferry', 'common', 'service.js'));

  const local = join(root, 'local');
  await mkdir(local, { recursive: true });
  await writeFile(join(local, 'package.json'), '{ "private": true, "type": "module" }\n');
  await copyAsJs(join(BENCH, 'variants', 'local', 'server.ts'), join(local, 'server.js'));
  await copyAsJs(join(examples, 'src', 'tokenValidator.ts'), join(local, 'tokenValidator.js'));
  await writeFile(join(local, 'jwt-public-key.generated.js'), tsKeyModule);

  for (const dir of [webpackRemote, webpackHost, ferryRemote, ferryRemoteNoDts, ferryRemoteNext, ferryHost, local]) {
    await linkModules(dir);
  }
  await installFerry(ferryHost);
  return {
    root,
    webpackRemote,
    webpackHost,
    ferryRemote,
    ferryRemoteNoDts,
    ferryRemoteNext,
    ferryHost,
    local,
    token,
    ferryPublicKey: signing.publicKey,
  };
}

/**
 * Rewrites the live-update project's validator so that the users it returns carry `validator: marker` (shown by
 * /profile), and its version to `version`. Build it with `ferry build --out <served folder>`.
 */
export async function writeNextValidator(layout: Layout, marker: string, version: string): Promise<void> {
  const source = await readFile(join(REPO, 'examples', 'auth-service', 'src', 'tokenValidator.ts'), 'utf8');
  const anchor = 'user: { sub: claims.sub, username: claims.username, role: claims.role }';
  const changed = source.replace(anchor, `${anchor.slice(0, -2)}, validator: ${JSON.stringify(marker)} }`);
  if (changed === source) throw new Error('the demo validator changed shape: update bench/setup.ts');
  await writeFile(join(layout.ferryRemoteNext, 'src', 'tokenValidator.ts'), changed);
  const config = join(layout.ferryRemoteNext, 'ferry.config.ts');
  const text = (await readFile(config, 'utf8')).replace(/version: '[^']*'/, `version: '${version}'`);
  await writeFile(config, text);
}

/** Copies a TypeScript module as JavaScript: types stripped, relative `.ts` imports pointed at `.js`. */
async function copyAsJs(from: string, to: string): Promise<void> {
  const source = stripTypeScriptTypes(await readFile(from, 'utf8'), { mode: 'strip' });
  await mkdir(dirname(to), { recursive: true });
  await writeFile(to, source.replace(/(from\s+['"]\.[^'"]*)\.ts(['"])/g, '$1.js$2'));
}

/** `dir/node_modules`: a symlink to each package in bench/node_modules, and `ferry` to the repository. */
async function linkModules(dir: string): Promise<void> {
  const modules = join(dir, 'node_modules');
  await mkdir(modules, { recursive: true });
  const entries = existsSync(BENCH_MODULES) ? await readdir(BENCH_MODULES) : [];
  for (const entry of entries) {
    if (entry === '.package-lock.json') continue;
    await symlink(join(BENCH_MODULES, entry), join(modules, entry));
  }
  // Without bench/node_modules (its install failed; --quick goes on without webpack), the ferry and local
  // variants still run on the repository's own express and jsonwebtoken (the same versions).
  for (const name of ['express', 'jsonwebtoken', 'semver']) {
    if (!entries.includes(name)) await symlink(join(REPO, 'node_modules', name), join(modules, name));
  }
  await symlink(REPO, join(modules, 'ferry'));
}

/** Replaces the host's `ferry` link with the package as an install lays it out: package.json and dist/, no node_modules. */
async function installFerry(dir: string): Promise<void> {
  const target = join(dir, 'node_modules', 'ferry');
  await rm(target, { force: true });
  await mkdir(target);
  await cp(join(REPO, 'package.json'), join(target, 'package.json'));
  await cp(join(REPO, 'dist'), join(target, 'dist'), { recursive: true });
}
