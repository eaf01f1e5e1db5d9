/**
 * Module Federation remotes built for real with the webpack and rspack APIs of ferry's devDependencies (the versions
 * test/interop/mf-stack.interop.ts pins), in a throw-away project: the article's Auth Service (webpack 5 +
 * @module-federation/node's UniversalFederationPlugin, `commonjs-module`, nodeExternals()), the same with
 * @module-federation/enhanced (`async-node`, shared packages bundled as fallbacks), and rspack with enhanced's rspack
 * plugin (`node` = `require` chunk loading, `async-node`). Each build writes `mf-manifest.json` (`manifest: true`,
 * `output.publicPath: 'auto'`).
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createTempProject, REPO_ROOT, type TempProject } from './temp-project.ts';

const require = createRequire(join(REPO_ROOT, 'package.json'));

/** The article's validator: HS256 against JWT_SECRET (else `supersecretkey`), dotenv loaded; never throws. */
export const ARTICLE_VALIDATOR = `const jwt = require('jsonwebtoken');
require('dotenv').config({ quiet: true });
async function validateJwtToken(token) {
  try {
    const decoded = jwt.verify(token, process.env.JWT_SECRET || 'supersecretkey');
    return { isValid: true, user: decoded };
  } catch (error) {
    return { isValid: false, error: error.message };
  }
}
module.exports = { validateJwtToken };
`;

/** The article's remote project, plus `src-v2/` (a redeployed validator) and extra modules for fault tests. */
export async function createAuthProject(extra: Record<string, string> = {}): Promise<TempProject> {
  return createTempProject(
    {
      // No "type" field (seed-stack.md, fix 4).
      'package.json': JSON.stringify({ name: 'auth-service-remote', version: '1.0.0', private: true }),
      'src/index.js': "module.exports = require('./tokenValidator.js');\n",
      'src/tokenValidator.js': ARTICLE_VALIDATOR,
      ...extra,
    },
    { link: ['jsonwebtoken', 'dotenv'] },
  );
}

const SHARED = {
  jsonwebtoken: { singleton: true, requiredVersion: '^9.0.0' },
  dotenv: { singleton: true, requiredVersion: '^18.0.0' },
};

/** What one build is made from. */
export interface MfBuildOptions {
  /** Output folder, relative to the project. */
  out: string;
  /** Expose key -> source file, relative to the project (default: the validator). */
  exposes?: Record<string, string>;
  /** webpack's `output.chunkFilename` (`[name].[contenthash].js` makes a redeploy change the manifest). */
  chunkFilename?: string;
  /** `false`: no `mf-manifest.json` (the article's build as written); default true. */
  manifest?: boolean;
}

type Stats = { hasErrors(): boolean; toString(options: unknown): string };
type Compiler = { run(cb: (error: Error | null, stats?: Stats) => void): void; close(cb: () => void): void };

function run(compiler: Compiler): Promise<void> {
  return new Promise((resolve, reject) => {
    compiler.run((error, stats) => {
      compiler.close(() => {
        if (error) reject(error);
        else if (stats?.hasErrors()) reject(new Error(stats.toString({ all: false, errors: true })));
        else resolve();
      });
    });
  });
}

const exposesOf = (options: MfBuildOptions) => options.exposes ?? { './tokenValidator': './src/tokenValidator.js' };

/** The federation options every build of the article's Auth Service takes: its name, container, exposes, shared. */
const federationOptions = (options: MfBuildOptions) => ({
  name: 'authServiceRemote',
  filename: 'remoteEntry.js',
  library: { type: 'commonjs-module' },
  exposes: exposesOf(options),
  shared: SHARED,
  manifest: true,
});
const resolveFromRepo = { modules: ['node_modules', join(REPO_ROOT, 'node_modules')] };

/**
 * The article's Auth Service build (seed-stack.md), with `manifest: true` and `publicPath: 'auto'` added: webpack 5,
 * `target: 'node'`, UniversalFederationPlugin with `library: { type: 'commonjs-module' }`, `externals:
 * [nodeExternals()]` (so jsonwebtoken, dotenv and the federation runtime are required from the host).
 */
export async function buildArticleRemote(project: TempProject, options: MfBuildOptions): Promise<string> {
  const webpack = require('webpack') as (config: unknown) => Compiler;
  const nodeExternals = require('webpack-node-externals') as (options?: unknown) => unknown;
  const { UniversalFederationPlugin } = require('@module-federation/node') as {
    UniversalFederationPlugin: new (options: unknown, context: unknown) => unknown;
  };
  const out = project.path(options.out);
  await run(
    webpack({
      target: 'node',
      mode: 'development',
      context: project.dir,
      entry: './src/index.js',
      output: {
        path: out,
        filename: 'main.js',
        libraryTarget: 'commonjs-static',
        publicPath: 'auto',
        ...(options.chunkFilename ? { chunkFilename: options.chunkFilename } : {}),
      },
      externals: [nodeExternals({ modulesDir: join(REPO_ROOT, 'node_modules') })],
      resolve: resolveFromRepo,
      resolveLoader: resolveFromRepo,
      plugins: [
        new UniversalFederationPlugin(
          {
            ...federationOptions(options),
            isServer: true,
            manifest: options.manifest ?? true,
          },
          {},
        ),
      ],
    }) as Compiler,
  );
  return out;
}

/** The same remote with @module-federation/enhanced: `target: 'async-node'`, no externals (fallback copies bundled). */
export async function buildEnhancedRemote(project: TempProject, options: MfBuildOptions): Promise<string> {
  const webpack = require('webpack') as (config: unknown) => Compiler;
  const { ModuleFederationPlugin } = require('@module-federation/enhanced/webpack') as {
    ModuleFederationPlugin: new (options: unknown) => unknown;
  };
  const out = project.path(options.out);
  await run(
    webpack({
      target: 'async-node',
      mode: 'development',
      context: project.dir,
      entry: './src/index.js',
      output: { path: out, publicPath: 'auto' },
      resolve: resolveFromRepo,
      resolveLoader: resolveFromRepo,
      plugins: [new ModuleFederationPlugin(federationOptions(options))],
    }) as Compiler,
  );
  return out;
}

/** The same remote built by rspack with enhanced's rspack plugin: `node` (`require` chunks) or `async-node`. */
export async function buildRspackRemote(
  project: TempProject,
  target: 'node' | 'async-node',
  options: MfBuildOptions,
): Promise<string> {
  const { rspack } = require('@rspack/core') as { rspack: (config: unknown) => Compiler };
  const { ModuleFederationPlugin } = require('@module-federation/enhanced/rspack') as {
    ModuleFederationPlugin: new (options: unknown) => unknown;
  };
  const out = project.path(options.out);
  await run(
    rspack({
      target,
      mode: 'development',
      devtool: false,
      context: project.dir,
      entry: './src/index.js',
      output: { path: out, publicPath: 'auto' },
      resolve: resolveFromRepo,
      plugins: [new ModuleFederationPlugin(federationOptions(options))],
    }),
  );
  return out;
}

/**
 * webpack's own ModuleFederationPlugin (`webpack.container`, Module Federation 1: no `mf-manifest.json`), `target:
 * 'node'`, `commonjs-module`: a build ferry cannot lock (nothing lists its chunks), refused with the settings that work.
 */
export async function buildPlainWebpackRemote(project: TempProject, options: MfBuildOptions): Promise<string> {
  const webpack = require('webpack') as ((config: unknown) => Compiler) & {
    container: { ModuleFederationPlugin: new (options: unknown) => unknown };
  };
  const out = project.path(options.out);
  await run(
    webpack({
      target: 'node',
      mode: 'development',
      context: project.dir,
      entry: './src/index.js',
      output: { path: out, publicPath: 'auto' },
      resolve: resolveFromRepo,
      plugins: [
        new webpack.container.ModuleFederationPlugin({
          name: 'authServiceRemote',
          filename: 'remoteEntry.js',
          library: { type: 'commonjs-module' },
          exposes: exposesOf(options),
          shared: SHARED,
        }),
      ],
    }),
  );
  return out;
}
