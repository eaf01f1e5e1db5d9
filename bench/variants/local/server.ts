/**
 * The local-require baseline: the demo's user service (examples/user-service/server.ts) with the validator as a
 * local module instead of a remote one. Same express app (its routes too), same middleware and answers, same
 * validator source (the bench copies examples/auth-service/src/tokenValidator.ts beside this file, with its generated
 * public key).
 *
 * Environment: PORT (0 picks a free one). Prints `user-service listening on <url>`.
 */
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import { type JwtUser, validateJwtToken } from './tokenValidator.ts';

interface AuthenticatedRequest extends Request {
  user?: JwtUser;
}

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
  const result = await validateJwtToken(token);
  if (!result.isValid) {
    res.status(403).json({ error: `Invalid token: ${result.error}` });
    return;
  }
  req.user = result.user;
  next();
}

const app = express();
app.disable('x-powered-by');
// The demo's two diagnostic routes come before its auth middleware: the same route table here (answering what a
// host with no remotes would), so that every /profile request walks the same express layers in both apps.
app.get('/federation/shared', (_req, res) => {
  res.json({ default: {} });
});
app.get('/federation/remotes', (_req, res) => {
  res.json({});
});
app.use(authenticate);
app.get('/profile', (req: AuthenticatedRequest, res) => {
  const user = req.user!;
  res.json({ message: `Welcome ${user.username}! This is your profile.`, user });
});

const server = app.listen(Number(process.env['PORT'] ?? 3000), '127.0.0.1', (error) => {
  if (error) {
    console.error(`user-service: cannot listen: ${error.message}`);
    process.exit(1);
  }
  console.log(`user-service listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
