/**
 * The user service: an express app whose every route requires a token, checked by the auth service's validator,
 * which ferry loads over HTTP at run time (verified against the auth service's pinned public key first).
 *
 * It starts even when the auth service is down: protected routes answer 503 until the validator loads — unless it
 * loaded the validator before (in an earlier run): then it serves the verified copy from its disk cache and says so.
 *
 * Environment: USER_SERVICE_PORT (default 3000, 0 picks a free one); AUTH_SERVICE_URL (default
 * http://127.0.0.1:3001); FERRY_AUTH_PUBLIC_KEY (default: the key in examples/auth-service/.keys/ferry-public-key.txt,
 * written when the auth service is built); FERRY_CACHE_DIR (default examples/user-service/.ferry-cache).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import { createHost, FerryError } from 'ferry';
import type { JwtUser } from '../auth-service/src/tokenValidator.ts';
import { closeServer, listen, onShutdown, portFromEnv } from '../common/service.ts';
import { createValidatorLoader, type TokenValidatorModule } from './validator-loader.ts';

const authServiceUrl = (process.env['AUTH_SERVICE_URL'] ?? 'http://127.0.0.1:3001').replace(/\/+$/, '');

const host = createHost({
  name: 'userService',
  remotes: { authService: { url: `${authServiceUrl}/mf-manifest.json`, publicKey: authPublicKey() } },
  shared: {
    jsonwebtoken: { singleton: true, requiredVersion: '^9.0.0' },
    express: { singleton: true, requiredVersion: '^5.0.0' },
  },
  // The shared packages the host provides are its own installed ones, whatever folder it is started from.
  root: import.meta.dirname,
  // One line per warning, e.g. FERRY_STALE_CACHE when the auth service is down and the cached validator is used.
  onWarning: (warning) => console.warn(`user-service: ${warning.code}: ${warning.message}`),
});
const validator = createValidatorLoader(host);

/** A request that passed {@link authenticate}. */
interface AuthenticatedRequest extends Request {
  user?: JwtUser;
}

/** The article's middleware, with the same answers, plus 503 while the validator cannot be loaded. */
async function authenticate(req: AuthenticatedRequest, res: Response, next: NextFunction): Promise<void> {
  const header = req.headers.authorization;
  if (!header) {
    res.status(401).json({ error: 'No authorization header' });
    return;
  }
  const token = header.split(' ')[1];
  if (!token) {
    res.status(401).json({ error: 'Token not provided' });
    return;
  }
  let tokenValidator: TokenValidatorModule;
  try {
    tokenValidator = await validator.get();
  } catch (error) {
    const code = error instanceof FerryError ? error.code : 'UNKNOWN';
    const reason = error instanceof Error ? error.message : String(error);
    res
      .status(503)
      .set('Retry-After', '1')
      .json({ error: `Auth service unavailable: ${reason}`, code });
    return;
  }
  const result = await tokenValidator.validateJwtToken(token);
  if (!result.isValid) {
    res.status(403).json({ error: `Invalid token: ${result.error}` });
    return;
  }
  req.user = result.user;
  next();
}

const app = express();
app.disable('x-powered-by');
// What is shared with the remotes: per package, the versions provided and by whom, the one chosen, who uses it, why.
app.get('/federation/shared', (_req, res) => {
  res.json(host.shared());
});
// Each remote's availability: served from the network or the cache (and how old), its circuit breaker.
app.get('/federation/remotes', (_req, res) => {
  res.json(host.remotes());
});
app.use(authenticate);
app.get('/profile', (req: AuthenticatedRequest, res) => {
  const user = req.user!;
  res.json({ message: `Welcome ${user.username}! This is your profile.`, user });
});

// Warm up in the background; a failure here is only logged, requests retry.
validator.get().then(
  () => {
    const from =
      host.remotes().authService?.source === 'cache' ? 'the cache (auth service unavailable)' : authServiceUrl;
    console.log(`user-service: loaded authService/tokenValidator from ${from}`);
    const jwt = host.shared().default?.jsonwebtoken;
    for (const use of jwt?.uses ?? []) {
      console.log(`user-service: jsonwebtoken ${use.version} from ${use.from} for ${use.consumer} (${use.reason})`);
    }
  },
  (error: unknown) => console.error(`user-service: auth service not available yet: ${(error as Error).message}`),
);

const server = await listen(app, 'user-service', portFromEnv('USER_SERVICE_PORT', 3000));
onShutdown(async () => {
  await closeServer(server);
  await host.close();
});

/** The ferry public key the auth service's builds are signed with: hosts refuse code it did not sign. */
function authPublicKey(): string {
  const fromEnv = process.env['FERRY_AUTH_PUBLIC_KEY'];
  if (fromEnv) return fromEnv.trim();
  const file = join(import.meta.dirname, '..', 'auth-service', '.keys', 'ferry-public-key.txt');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    console.error(
      `user-service: no public key for the auth service. Set FERRY_AUTH_PUBLIC_KEY, or build the auth service ` +
        `(node examples/auth-service/build.ts) so that ${file} exists.`,
    );
    process.exit(1);
  }
}
