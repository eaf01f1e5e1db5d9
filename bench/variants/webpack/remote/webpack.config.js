// The article's remote (auth service) build, with only the fixes needed to run it today (see shared/seed-stack.md):
// UniversalFederationPlugin instead of the ModuleFederationPlugin the package no longer exports (fix 2), and
// `library: { type: 'commonjs-module' }` so the host finds `init` in the remote entry (fix 7). Everything else is as
// the article wrote it: development mode, nodeExternals(), the article's shared versions.
const path = require('node:path');
const nodeExternals = require('webpack-node-externals');
const { UniversalFederationPlugin } = require('@module-federation/node');

module.exports = {
  target: 'node',
  mode: 'development',
  entry: './src/index.js',
  output: {
    path: path.resolve(__dirname, 'dist'),
    filename: 'main.js',
    libraryTarget: 'commonjs-static',
  },
  externals: [nodeExternals()],
  plugins: [
    new UniversalFederationPlugin(
      {
        name: 'authServiceRemote',
        filename: 'remoteEntry.js',
        isServer: true,
        library: { type: 'commonjs-module' },
        exposes: { './tokenValidator': './src/tokenValidator.js' },
        shared: {
          jsonwebtoken: { singleton: true, requiredVersion: '^8.5.1' },
          dotenv: { singleton: true, requiredVersion: '^16.0.0' },
        },
      },
      {},
    ),
  ],
};
