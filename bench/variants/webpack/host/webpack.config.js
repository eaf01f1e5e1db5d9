// The article's host (user service) build, with only the fixes needed to run it today (see shared/seed-stack.md):
// UniversalFederationPlugin (fix 2) and the federation option `experiments: { asyncStartup: true }`, so the entry's
// top-level synchronous require of the remote works (fix 6). The remote URL is the article's unless the bench
// gives another port (AUTH_REMOTE_URL at build time: 3001 may be taken on a shared machine); it is baked into the
// build, as in the article.
const path = require('node:path');
const nodeExternals = require('webpack-node-externals');
const { UniversalFederationPlugin } = require('@module-federation/node');

const remoteEntryUrl = process.env.AUTH_REMOTE_URL || 'http://localhost:3001/remoteEntry.js';

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
        name: 'userServiceHost',
        isServer: true,
        experiments: { asyncStartup: true },
        remotes: { authServiceRemote: `authServiceRemote@${remoteEntryUrl}` },
        shared: {
          jsonwebtoken: { singleton: true, requiredVersion: '^8.5.1' },
          dotenv: { singleton: true, requiredVersion: '^16.0.0' },
          express: { singleton: true, requiredVersion: '^4.17.1' },
        },
      },
      {},
    ),
  ],
};
