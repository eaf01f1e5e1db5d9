/**
 * `createTestRemote()`: a real remote for a user's own tests, served on a loopback port by ferry's own server (push
 * channel included), signed with a throwaway key, republishable, closed at the end.
 *
 * Exposes made of plain values are written without a bundler (hand-built.ts), so they need no esbuild; an expose
 * given as a module source string or a file path goes through the real `ferry build` (esbuild, loaded only then).
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { SharedConfig } from '../build/define.ts';
import { InvalidOptionError } from '../common/errors.ts';
import {
  generateSigningKeys,
  parsePrivateKey,
  type SharedEntry,
  SIGNATURE_FILE,
  signManifest,
} from '../manifest/index.ts';
import { createFerryServer, type FerryServer } from '../server/index.ts';
import { writeHandBuilt } from './hand-built.ts';
import { type ModuleValues, sourceOfValues } from './module-source.ts';

/**
 * One exposed module: its exports as plain values (data and self-contained functions, see module-source.ts), or a
 * string: a file path (starting with `./`, `../` or `/`, relative to `root`) or the module's source text (TypeScript
 * or JavaScript), both built with esbuild.
 */
export type TestExpose = ModuleValues | string;

/** What a test remote is made of; {@link TestRemote.publish} takes the same fields to make its next version. */
export interface TestRemoteContent {
  /** Expose keys (`'./tokenValidator'`, or `'.'`) and their modules. */
  exposes: Readonly<Record<string, TestExpose>>;
  /** Shared packages, as in `ferry.config` (Module Federation's options). Default: none. */
  shared?: readonly string[] | Readonly<Record<string, SharedConfig>>;
  /** The remote's semver version. Default `'1.0.0'`. */
  version?: string;
}

/** Options of {@link createTestRemote}. */
export interface TestRemoteOptions extends TestRemoteContent {
  /** The remote's name, as hosts import it (`name/expose`). */
  name: string;
  /** Where packages resolve from (shared versions, the imports of built sources). Default `process.cwd()`. */
  root?: string;
  /** Sign the manifest with a throwaway key (hosts pin `publicKey`). Default `true`. */
  sign?: boolean;
  /** The port to listen on, on 127.0.0.1. Default 0 (a free one). */
  port?: number;
}

/** A running test remote. */
export interface TestRemote extends AsyncDisposable {
  readonly name: string;
  /** The server's base URL, ending with `/`. */
  readonly url: string;
  /** `${url}mf-manifest.json`, for a host's `remotes`. */
  readonly manifestUrl: string;
  /** The throwaway public key that verifies its manifest (`ed25519:…`); undefined with `sign: false`. */
  readonly publicKey: string | undefined;
  /** The host's `remotes` entry for it: `{ name, url, publicKey }`. */
  readonly remoteOptions: { name: string; url: string; publicKey?: string };
  /** The version and release being served now. */
  readonly version: string;
  readonly release: number;
  /**
   * Serves a new version (new exposes, shared packages or version; unspecified fields stay as they were) with a higher
   * release. Hosts with live updates are told through the push channel; others see it at their next check.
   */
  publish(next: Partial<TestRemoteContent>): Promise<{ version: string; release: number }>;
  /** Stops the server and removes its files. */
  close(): Promise<void>;
}

function isPath(text: string): boolean {
  return /^\.\.?[\\/]/.test(text) || isAbsolute(text) || text.startsWith('file:');
}

function checkContent(content: TestRemoteContent, name: string): void {
  const keys = Object.keys(content.exposes ?? {});
  if (keys.length === 0) {
    throw new InvalidOptionError(
      `createTestRemote: remote "${name}" exposes nothing; give \`exposes: { './module': { … } }\`.`,
      { option: 'exposes', remote: name },
    );
  }
  for (const key of keys) {
    if (key !== '.' && !key.startsWith('./')) {
      throw new InvalidOptionError(
        `createTestRemote: the expose key ${JSON.stringify(key)} of remote "${name}" must start with "./" ` +
          `(write ${JSON.stringify(`./${key}`)}), or be "." for the remote's main module.`,
        { option: `exposes.${key}`, remote: name },
      );
    }
  }
}

/** The version of an installed package, walking node_modules up from `root`. */
function installedVersion(pkg: string, root: string): string | undefined {
  for (let dir = root; ; dir = dirname(dir)) {
    try {
      const version = JSON.parse(readFileSync(join(dir, 'node_modules', pkg, 'package.json'), 'utf8')).version;
      return typeof version === 'string' ? version : undefined;
    } catch {
      // not here: keep walking up
    }
    if (dirname(dir) === dir) return undefined;
  }
}

/** The manifest's shared entries for a hand-built remote (no fallback copies: the host must provide them). */
function sharedEntries(shared: TestRemoteContent['shared'], root: string): Record<string, SharedEntry> {
  const configs: Record<string, SharedConfig> = Array.isArray(shared)
    ? Object.fromEntries((shared as readonly string[]).map((key) => [key, {}]))
    : { ...(shared as Record<string, SharedConfig> | undefined) };
  const entries: Record<string, SharedEntry> = {};
  for (const [key, config] of Object.entries(configs)) {
    const pkg = config.packageName ?? (key.startsWith('@') ? key.split('/').slice(0, 2).join('/') : key.split('/')[0]!);
    entries[key] = {
      version: config.version ?? installedVersion(pkg, root) ?? '0.0.0',
      requiredVersion: config.requiredVersion ?? false,
      singleton: config.singleton ?? false,
      strictVersion: config.strictVersion ?? false,
      eager: config.eager ?? false,
      shareScope: config.shareScope ?? 'default',
      fallback: false,
    };
  }
  return entries;
}

/**
 * Starts a test remote: builds (or hand-writes) it, signs it with a throwaway key and serves it on a loopback port.
 *
 * @example
 * ```ts
 * import { createHost } from 'ferry';
 * import { createTestRemote } from 'ferry/testing';
 *
 * await using remote = await createTestRemote({
 *   name: 'authService',
 *   exposes: { './tokenValidator': { validateJwtToken: async (token: string) => ({ isValid: token === 'good' }) } },
 * });
 * await using host = createHost({ name: 'test', remotes: { authService: remote.remoteOptions } });
 * const { validateJwtToken } = await host.import('authService/tokenValidator');
 * ```
 */
export async function createTestRemote(options: TestRemoteOptions): Promise<TestRemote> {
  const { name } = options;
  if (typeof name !== 'string' || !/^[A-Za-z_$][\w$]*$/.test(name)) {
    throw new InvalidOptionError(
      `createTestRemote: the remote's name must be a JavaScript identifier such as "authService", got ${JSON.stringify(name)}.`,
      { option: 'name' },
    );
  }
  checkContent(options, name);
  const root = resolve(options.root ?? process.cwd());
  const work = await mkdtemp(join(tmpdir(), `ferry-test-remote-${name}-`));
  const outDir = join(work, 'out');
  // Sources handed as text are built where the project's packages resolve from: under its node_modules if it has one.
  const sourcesDir = existsSync(join(root, 'node_modules'))
    ? join(root, 'node_modules', '.cache', 'ferry', work.slice(tmpdir().length + 1))
    : join(work, 'src');
  const keys = options.sign === false ? undefined : generateSigningKeys();
  const keyFile = join(work, 'signing-key.pem');
  if (keys) await writeFile(keyFile, keys.privateKeyPem, { mode: 0o600 });

  let content: TestRemoteContent = { exposes: options.exposes, ...pick(options) };
  let release = Date.now();
  let generation = 0;

  async function write(): Promise<void> {
    const version = content.version ?? '1.0.0';
    const strings = Object.values(content.exposes).some((expose) => typeof expose === 'string');
    if (!strings) {
      const { bytes } = await writeHandBuilt(outDir, {
        name,
        version,
        release,
        exposes: new Map(Object.entries(content.exposes) as Array<[string, ModuleValues]>),
        shared: sharedEntries(content.shared, root),
      });
      if (keys)
        await writeFile(
          join(outDir, SIGNATURE_FILE),
          signManifest(bytes, parsePrivateKey(keys.privateKeyPem, 'the test key')),
        );
      return;
    }
    // The real build: each expose a file (sources and values written out), a JSON config beside them.
    generation++;
    await mkdir(sourcesDir, { recursive: true });
    const exposes: Record<string, string> = {};
    for (const [key, expose] of Object.entries(content.exposes)) {
      const stem = `${key === '.' ? 'index' : key.slice(2).replaceAll('/', '-')}.${generation}`;
      if (typeof expose !== 'string') {
        exposes[key] = join(sourcesDir, `${stem}.cjs`);
        await writeFile(exposes[key], sourceOfValues(expose, `exposes[${JSON.stringify(key)}]`));
      } else if (isPath(expose)) {
        exposes[key] = expose.startsWith('file:') ? new URL(expose).pathname : resolve(root, expose);
      } else {
        exposes[key] = join(sourcesDir, `${stem}.ts`);
        await writeFile(exposes[key], expose);
      }
    }
    const configFile = join(work, 'ferry.config.json');
    const config = { name, exposes, shared: content.shared ?? {}, version, release, dts: false };
    await writeFile(configFile, JSON.stringify(config, null, 2));
    const { buildRemote } = await import('../build/build.ts');
    await buildRemote({ root, configFile, outDir, ...(keys ? { sign: keyFile } : {}), env: {} });
  }

  let server: FerryServer | undefined;
  try {
    await write();
    server = await createFerryServer({ dir: outDir, port: options.port ?? 0, host: '127.0.0.1' });
  } catch (error) {
    await rm(work, { recursive: true, force: true });
    if (sourcesDir.startsWith(root)) await rm(sourcesDir, { recursive: true, force: true });
    throw error;
  }
  const url = server.url;
  const manifestUrl = `${url}mf-manifest.json`;
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      await server.close();
      await rm(work, { recursive: true, force: true });
      await rm(sourcesDir, { recursive: true, force: true });
    })();
    return closing;
  };
  return {
    name,
    url,
    manifestUrl,
    publicKey: keys?.publicKey,
    remoteOptions: { name, url: manifestUrl, ...(keys ? { publicKey: keys.publicKey } : {}) },
    get version() {
      return content.version ?? '1.0.0';
    },
    get release() {
      return release;
    },
    async publish(next) {
      const updated: TestRemoteContent = { ...content, ...next, exposes: next.exposes ?? content.exposes };
      checkContent(updated, name);
      const previous = { content, release };
      content = updated;
      release = Math.max(release + 1, Date.now());
      try {
        await write();
      } catch (error) {
        ({ content, release } = previous);
        throw error;
      }
      return { version: content.version ?? '1.0.0', release };
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

function pick(options: TestRemoteContent): Omit<TestRemoteContent, 'exposes'> {
  return {
    ...(options.shared !== undefined ? { shared: options.shared } : {}),
    ...(options.version !== undefined ? { version: options.version } : {}),
  };
}
