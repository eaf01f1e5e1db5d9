/**
 * Loads the auth service's token validator through ferry, and keeps the user service useful while it cannot.
 *
 * The article required the remote at the top of the entry file: with the auth service down, the user service did
 * not start at all. Here each request asks the host for the module (ferry caches the verified version it loaded,
 * and swaps in a redeployed auth service's new version once it is verified: the next request gets it). While loading fails, callers get the reason (the service answers 503) and the next
 * attempt waits about a second, so a remote that is down is not hammered by every incoming request.
 *
 * @example
 * ```ts
 * const loader = createValidatorLoader(host);
 * const { validateJwtToken } = await loader.get(); // rejects while the auth service cannot be loaded
 * ```
 */
import type { Host } from 'ferry';
import type { ValidationResult } from '../auth-service/src/tokenValidator.ts';

/** The exposed module's shape. Types come from the auth service's source; the code comes over HTTP at run time. */
export interface TokenValidatorModule {
  validateJwtToken(token: string): Promise<ValidationResult>;
}

const RETRY_AFTER_MS = 1000;

/** Loads `authService/tokenValidator` on demand; see the file comment for the retry policy. */
export function createValidatorLoader(host: Pick<Host, 'import'>): { get(): Promise<TokenValidatorModule> } {
  let failedAt = Number.NEGATIVE_INFINITY;
  let lastError: unknown;
  return {
    async get() {
      if (Date.now() - failedAt < RETRY_AFTER_MS) throw lastError;
      try {
        return await host.import<TokenValidatorModule>('authService/tokenValidator');
      } catch (error) {
        failedAt = Date.now();
        lastError = error;
        throw error;
      }
    },
  };
}
