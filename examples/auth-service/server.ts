/**
 * The auth service: issues tokens at `POST /login` and serves its own federation bundle (what `ferry build` wrote
 * to dist/federation) at `/mf-manifest.json`, `/remoteEntry.js`, … — the article left serving it to someone else.
 *
 * Run build.ts first (`npm start` does). Port: AUTH_SERVICE_PORT (default 3001, 0 picks a free one). The folder
 * served: AUTH_FEDERATION_DIR (default dist/federation); a `ferry build` into it is a redeployment, announced to hosts
 * at `/mf-manifest.events` as soon as the new manifest is written.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import express from 'express';
import { createRequestHandler } from 'ferry/server';
import jwt from 'jsonwebtoken';
import { closeServer, listen, onShutdown, portFromEnv } from '../common/service.ts';
import { AUTH_SERVICE_ROOT, JWT_PRIVATE_KEY_FILE } from './prepare.ts';
import { TOKEN_ISSUER } from './src/tokenValidator.ts';
import { findUser } from './src/users.ts';

const federationDir = process.env['AUTH_FEDERATION_DIR'] || join(AUTH_SERVICE_ROOT, 'dist', 'federation');
if (!existsSync(JWT_PRIVATE_KEY_FILE) || !existsSync(join(federationDir, 'mf-manifest.json'))) {
  console.error(
    `auth-service: no build in ${federationDir} yet. Run \`node examples/auth-service/build.ts\` (or \`npm start\`) first.`,
  );
  process.exit(1);
}
// Only this process ever reads the private key: hosts get the public key inside the bundle.
const privateKey = readFileSync(JWT_PRIVATE_KEY_FILE, 'utf8');

const app = express();
app.disable('x-powered-by');
app.use(express.json());

app.post('/login', (req, res) => {
  const body: Record<string, unknown> = req.body ?? {};
  const user = findUser(body['username'], body['password']);
  if (!user) {
    res.status(401).json({ error: 'Invalid username or password' });
    return;
  }
  const { sub, ...claims } = user;
  const token = jwt.sign(claims, privateKey, {
    algorithm: 'ES256',
    expiresIn: '1h',
    issuer: TOKEN_ISSUER,
    subject: sub,
  });
  res.json({ token });
});

app.use(createRequestHandler({ dir: federationDir }));

const server = await listen(app, 'auth-service', portFromEnv('AUTH_SERVICE_PORT', 3001));
onShutdown(() => closeServer(server));
