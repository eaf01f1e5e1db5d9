// The type of jwt-public-key.generated.ts, which prepare.ts writes (it is not committed: it holds this checkout's
// key). This declaration lets the project typecheck before the auth service has ever been built.

/** The auth service's JWT public key (SPKI PEM, EC P-256): what validateJwtToken checks signatures against. */
export declare const JWT_PUBLIC_KEY: string;
