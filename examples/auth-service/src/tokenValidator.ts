/**
 * The module the auth service shares with other services: hosts load it at run time with
 * `host.import('authService/tokenValidator')`.
 *
 * It checks ES256 tokens against the auth service's PUBLIC key, which the build bundles in (prepare.ts writes it to
 * jwt-public-key.generated.ts). The private key never leaves the auth service, and nothing here reads the host's
 * environment: unlike the article's HS256 validator, a host that loads this code cannot mint tokens, and no host
 * setting decides which tokens pass.
 *
 * `jsonwebtoken` is a shared singleton (see ferry.config.ts): the bundle does not carry it; the host provides it.
 *
 * @example
 * ```ts
 * const { validateJwtToken } = await host.import('authService/tokenValidator');
 * const result = await validateJwtToken(token);
 * if (result.isValid) console.log(result.user.username);
 * ```
 */
import jwt from 'jsonwebtoken';
import { JWT_PUBLIC_KEY } from './jwt-public-key.generated.ts';

/** What a token says about its holder: the claims the validator returns. */
export interface JwtUser {
  /** The user id (the JWT `sub` claim). */
  sub: string;
  username: string;
  role: 'admin' | 'user';
}

/** What {@link validateJwtToken} resolves to: the token's user, or why the token was refused. */
export type ValidationResult = { isValid: true; user: JwtUser } | { isValid: false; error: string };

/** Who issues the tokens and for whom: checked so a token made for something else is refused. */
export const TOKEN_ISSUER = 'authService';

/** Verifies a token's signature, expiry and issuer, and returns its user. Never throws. */
export async function validateJwtToken(token: string): Promise<ValidationResult> {
  try {
    const claims = jwt.verify(token, JWT_PUBLIC_KEY, { algorithms: ['ES256'], issuer: TOKEN_ISSUER });
    if (!isJwtUser(claims)) return { isValid: false, error: 'token does not describe a user' };
    return { isValid: true, user: { sub: claims.sub, username: claims.username, role: claims.role } };
  } catch (error) {
    return { isValid: false, error: error instanceof Error ? error.message : String(error) };
  }
}

function isJwtUser(claims: unknown): claims is JwtUser {
  if (typeof claims !== 'object' || claims === null) return false;
  const { sub, username, role } = claims as Record<string, unknown>;
  return typeof sub === 'string' && typeof username === 'string' && (role === 'admin' || role === 'user');
}
