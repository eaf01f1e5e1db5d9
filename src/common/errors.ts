/**
 * Every failure ferry reports is a {@link FerryError} subclass with a stable `code`.
 *
 * Callers switch on `error.code` (typed as {@link FerryErrorCode}) or use `instanceof`; `instanceof` keeps working
 * when two copies of ferry are loaded in one process (a host and a remote may each carry one) because it checks a
 * `Symbol.for` brand and the code, not the prototype chain. The original error is always kept as `cause`.
 *
 * docs/errors.md is the catalogue of these codes; test/errors-catalogue.test.ts fails when the two disagree.
 *
 * @example
 * ```ts
 * try {
 *   await host.import('authService/tokenValidator');
 * } catch (error) {
 *   if (error instanceof IntegrityError) console.error(`refused ${error.url}: ${error.message}`);
 * }
 * ```
 */

const BRAND = Symbol.for('ferry.error');

/** Context that names the input an error is about; every field is optional, present where it is known. */
export interface FerryErrorDetails {
  /** The remote's name, as configured on the host or as built. */
  remote?: string;
  /** The URL that was being fetched. */
  url?: string;
  /** The expose (`./tokenValidator`) or full specifier (`authService/tokenValidator`). */
  expose?: string;
  /** A file path, a config file or a build output file. */
  file?: string;
  /** An option name (`exposes`, `shared.express.singleton`). */
  option?: string;
  /** A package name, for shared-dependency errors. */
  package?: string;
  /** The HTTP status, for status errors. */
  status?: number;
}

export interface FerryErrorOptions extends FerryErrorDetails {
  cause?: unknown;
}

/** The base class of all ferry errors. Never thrown itself: each failure has its own subclass. */
export class FerryError extends Error {
  static readonly code: string = 'ERR_FERRY';
  readonly code: FerryErrorCode;
  readonly remote?: string;
  readonly url?: string;
  readonly expose?: string;
  readonly file?: string;
  readonly option?: string;
  readonly package?: string;
  readonly status?: number;

  constructor(message: string, options: FerryErrorOptions = {}) {
    const { cause, ...details } = options;
    super(message, cause === undefined ? undefined : { cause });
    this.code = (new.target as typeof FerryError).code as FerryErrorCode;
    this.name = new.target.name;
    for (const [key, value] of Object.entries(details)) {
      if (value !== undefined) Object.defineProperty(this, key, { value, enumerable: true });
    }
    Object.defineProperty(this, BRAND, { value: true });
  }

  // `this` is the class instanceof was called on (FerryError or a subclass): that is the point of this method.
  // biome-ignore-start lint/complexity/noThisInStatic: see above
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null) return false;
    if ((value as Record<symbol, unknown>)[BRAND] !== true) return false;
    // FerryError itself, the one class of the family that extends Error directly (named without referring to
    // FerryError from inside its own body, which makes bundlers rename the class: see scripts/build.ts).
    if (Object.getPrototypeOf(this) === Error) return true;
    return (value as { code?: unknown }).code === this.code;
  }
  // biome-ignore-end lint/complexity/noThisInStatic: see above
}

/** An option in a config file or API call is unknown, missing or of the wrong kind. */
export class InvalidOptionError extends FerryError {
  static override readonly code = 'ERR_FERRY_INVALID_OPTION';
}
/** No `ferry.config.*` was found, or the file named (`--config`, `FERRY_CONFIG`) does not exist. */
export class ConfigNotFoundError extends FerryError {
  static override readonly code = 'ERR_FERRY_CONFIG_NOT_FOUND';
}
/** A config file exists but could not be loaded: it fails to compile, throws, or exports nothing usable. */
export class ConfigLoadError extends FerryError {
  static override readonly code = 'ERR_FERRY_CONFIG_LOAD';
}
/** An entry of `exposes` names a file that does not exist. */
export class ExposeNotFoundError extends FerryError {
  static override readonly code = 'ERR_FERRY_EXPOSE_NOT_FOUND';
}
/** esbuild reported errors while bundling the remote. */
export class BuildError extends FerryError {
  static override readonly code = 'ERR_FERRY_BUILD';
}
/** An expose's import graph reaches a package with a native addon, which a bundle cannot carry. */
export class NativePackageError extends FerryError {
  static override readonly code = 'ERR_FERRY_NATIVE_PACKAGE';
}
/** `host.import()` was given a specifier that is not `remote/expose`. */
export class InvalidSpecifierError extends FerryError {
  static override readonly code = 'ERR_FERRY_INVALID_SPECIFIER';
}
/** `host.import()` named a remote the host has no configuration for. */
export class UnknownRemoteError extends FerryError {
  static override readonly code = 'ERR_FERRY_UNKNOWN_REMOTE';
}
/** The remote's manifest does not expose the requested module. */
export class UnknownExposeError extends FerryError {
  static override readonly code = 'ERR_FERRY_UNKNOWN_EXPOSE';
}
/** The connection failed (refused, reset, DNS) before a complete response arrived. */
export class NetworkError extends FerryError {
  static override readonly code = 'ERR_FERRY_NETWORK';
}
/** A request or an import ran past its deadline and was aborted. */
export class TimeoutError extends FerryError {
  static override readonly code = 'ERR_FERRY_TIMEOUT';
  /**
   * Which deadline passed: `connect`, `headers`, `body`, `request` (the whole request), `import` (a whole import's
   * requests and waits), or `evaluation` (the remote's code did not finish initialising or evaluating in time: the
   * remote answered, its code hangs).
   */
  declare readonly phase?: 'connect' | 'headers' | 'body' | 'request' | 'import' | 'evaluation';
  constructor(message: string, options: FerryErrorOptions & { phase?: TimeoutError['phase'] } = {}) {
    super(message, options);
  }
}
/** The remote answered with a status other than 2xx (or 304 to a conditional request). */
export class HttpStatusError extends FerryError {
  static override readonly code = 'ERR_FERRY_HTTP_STATUS';
  /** The response's `Retry-After`, in milliseconds, when it sent one. */
  declare readonly retryAfterMs?: number;
  constructor(message: string, options: FerryErrorOptions & { retryAfterMs?: number } = {}) {
    super(message, options);
  }
}
/**
 * The remote's circuit breaker is open: recent requests to it failed repeatedly, so the host does not call it until
 * the cooling period ends (then one probe request decides).
 */
export class CircuitOpenError extends FerryError {
  static override readonly code = 'ERR_FERRY_CIRCUIT_OPEN';
  /** When the breaker lets a probe through (ISO 8601). */
  declare readonly retryAt?: string;
  constructor(message: string, options: FerryErrorOptions & { retryAt?: string } = {}) {
    super(message, options);
  }
}
/** A response body was larger than allowed (the byte cap, or the size the manifest declares). */
export class ResponseTooLargeError extends FerryError {
  static override readonly code = 'ERR_FERRY_RESPONSE_TOO_LARGE';
}
/** The remote redirected, to another origin or too many times. */
export class RedirectError extends FerryError {
  static override readonly code = 'ERR_FERRY_REDIRECT';
}
/** The manifest is not valid JSON or does not have the shape ferry expects. */
export class InvalidManifestError extends FerryError {
  static override readonly code = 'ERR_FERRY_INVALID_MANIFEST';
}
/** The manifest is valid but belongs to another remote than the one configured at that URL. */
export class ManifestMismatchError extends FerryError {
  static override readonly code = 'ERR_FERRY_MANIFEST_MISMATCH';
}
/** A file's bytes do not match the size or `sha384-` integrity the manifest lists for it. */
export class IntegrityError extends FerryError {
  static override readonly code = 'ERR_FERRY_INTEGRITY';
}
/** The manifest's signature is missing, malformed, or not made by a pinned key. */
export class SignatureError extends FerryError {
  static override readonly code = 'ERR_FERRY_SIGNATURE';
}
/**
 * The manifest is not newer than one the host already accepted for that remote: its release is lower (a rollback),
 * or equal with different bytes (two builds sharing a release, which lets an older one be swapped back in).
 */
export class RollbackError extends FerryError {
  static override readonly code = 'ERR_FERRY_ROLLBACK';
  /** The release of the refused manifest. */
  declare readonly release?: number;
  /** The highest release the host had accepted for that remote. */
  declare readonly acceptedRelease?: number;
  constructor(message: string, options: FerryErrorOptions & { release?: number; acceptedRelease?: number } = {}) {
    super(message, options);
  }
}
/** The manifest's `ferry.expires` is in the past (by the host's clock): the remote must be rebuilt and re-signed. */
export class ManifestExpiredError extends FerryError {
  static override readonly code = 'ERR_FERRY_MANIFEST_EXPIRED';
  /** The manifest's expiry (ISO 8601). */
  declare readonly expires?: string;
  constructor(message: string, options: FerryErrorOptions & { expires?: string } = {}) {
    super(message, options);
  }
}
/** Remote code threw while it was being evaluated or initialised. */
export class EvaluationError extends FerryError {
  static override readonly code = 'ERR_FERRY_EVALUATION';
}
/** Remote code required a package that is neither a Node builtin, a shared package, nor a file of the remote. */
export class UndeclaredDependencyError extends FerryError {
  static override readonly code = 'ERR_FERRY_UNDECLARED_DEPENDENCY';
}
/** A shared package is required but nobody provides it (or nobody provides a version that may be used). */
export class SharedUnavailableError extends FerryError {
  static override readonly code = 'ERR_FERRY_SHARED_UNAVAILABLE';
}
/** A shared package's only acceptable version does not satisfy a `strictVersion` requirement. */
export class SharedVersionError extends FerryError {
  static override readonly code = 'ERR_FERRY_SHARED_VERSION';
}
/**
 * A ferry remote's container, in a Module Federation host, was used in a way it cannot work with: it cannot tell the
 * URL it was loaded from, `init()` got no share scope or a second, different one, or it was written without the
 * container runtime (a hand-built test remote) and only a ferry host can load it.
 */
export class ContainerError extends FerryError {
  static override readonly code = 'ERR_FERRY_CONTAINER';
}
/** The host was closed; no further imports are possible. */
export class HostClosedError extends FerryError {
  static override readonly code = 'ERR_FERRY_HOST_CLOSED';
}

/** A remote's version is outside the range the host declares for it (`remotes.<alias>.version`). */
export class IncompatibleVersionError extends FerryError {
  static override readonly code = 'ERR_FERRY_INCOMPATIBLE_VERSION';
}
/**
 * A new version of a remote was not activated (its shared dependencies conflict with those in use, the host's
 * health check failed, or the remote marked it breaking outside the host's range); the current version keeps serving. `reason` says which check refused it.
 */
export class UpdateRefusedError extends FerryError {
  static override readonly code = 'ERR_FERRY_UPDATE_REFUSED';
  /** `shared-conflict`, `health-check` or `contract`. */
  declare readonly reason?: string;
  /** For `contract`: the breaking exports the host uses, as `./expose#export` (`./expose` when it was removed). */
  declare readonly breaking?: readonly string[];
  constructor(message: string, options: FerryErrorOptions & { reason?: string; breaking?: readonly string[] } = {}) {
    super(message, options);
  }
}

/**
 * `ferry build` compared the remote's API with the previous release and found breaking changes, while the version is
 * not a new major one (and no override was given). `changes` lists them; nothing was written.
 */
export class BreakingChangeError extends FerryError {
  static override readonly code = 'ERR_FERRY_BREAKING_CHANGE';
  /** Each breaking change: the expose, the export and what changed. */
  declare readonly changes?: ReadonlyArray<{ expose: string; export: string; change: string }>;
  constructor(
    message: string,
    options: FerryErrorOptions & { changes?: ReadonlyArray<{ expose: string; export: string; change: string }> } = {},
  ) {
    super(message, options);
  }
}

/**
 * Remotes that use remotes form a cycle (a remote that, through the remotes it uses, uses itself): the host refuses
 * to load the module that would close it. `chain` lists the remotes in order.
 */
export class RemoteCycleError extends FerryError {
  static override readonly code = 'ERR_FERRY_REMOTE_CYCLE';
  /** The remotes of the cycle, in order, the first again at the end. */
  declare readonly chain?: string[];
  constructor(message: string, options: FerryErrorOptions & { chain?: string[] } = {}) {
    super(message, options);
  }
}

/**
 * A channel document (`channels/<name>.json`, `ferry release promote`) the host follows could not be used: `reason`
 * is `missing` (no such channel), `malformed`, `expired`, `replayed` (older than one the host accepted, or the same
 * sequence with other bytes) or `mismatch` (the release served is not the one the channel names). Signatures that do
 * not verify are SignatureErrors.
 */
export class ChannelError extends FerryError {
  static override readonly code = 'ERR_FERRY_CHANNEL';
  declare readonly reason?: 'missing' | 'malformed' | 'expired' | 'replayed' | 'mismatch';
  constructor(message: string, options: FerryErrorOptions & { reason?: ChannelError['reason'] } = {}) {
    super(message, options);
  }
}

/**
 * A Module Federation remote's bytes are not what the host's lock file (`ferry.lock`, written by `ferry lock`) pins:
 * `reason` is `not-locked` (the remote has no entry in the lock, and is not `unpinned`), `mismatch` (a file's bytes
 * differ from the lock), `not-in-lock` (the remote needs a file the lock does not list) or `malformed` (the lock file
 * cannot be read). Nothing of the refused bytes ran.
 */
export class LockError extends FerryError {
  static override readonly code = 'ERR_FERRY_LOCK';
  declare readonly reason?: 'not-locked' | 'mismatch' | 'not-in-lock' | 'malformed';
  constructor(message: string, options: FerryErrorOptions & { reason?: LockError['reason'] } = {}) {
    super(message, options);
  }
}

/**
 * A Module Federation container was built in a way the host cannot route through its own fetching and verification
 * (its chunks would be fetched by the container itself), or is not a container at all. The message names the build
 * settings that work.
 */
export class UnsupportedContainerError extends FerryError {
  static override readonly code = 'ERR_FERRY_UNSUPPORTED_CONTAINER';
}

/** Every concrete error class, keyed by its code. The catalogue test compares this with docs/errors.md. */
export const errorClasses = {
  ERR_FERRY_INVALID_OPTION: InvalidOptionError,
  ERR_FERRY_CONFIG_NOT_FOUND: ConfigNotFoundError,
  ERR_FERRY_CONFIG_LOAD: ConfigLoadError,
  ERR_FERRY_EXPOSE_NOT_FOUND: ExposeNotFoundError,
  ERR_FERRY_BUILD: BuildError,
  ERR_FERRY_NATIVE_PACKAGE: NativePackageError,
  ERR_FERRY_INVALID_SPECIFIER: InvalidSpecifierError,
  ERR_FERRY_UNKNOWN_REMOTE: UnknownRemoteError,
  ERR_FERRY_UNKNOWN_EXPOSE: UnknownExposeError,
  ERR_FERRY_NETWORK: NetworkError,
  ERR_FERRY_TIMEOUT: TimeoutError,
  ERR_FERRY_HTTP_STATUS: HttpStatusError,
  ERR_FERRY_RESPONSE_TOO_LARGE: ResponseTooLargeError,
  ERR_FERRY_REDIRECT: RedirectError,
  ERR_FERRY_INVALID_MANIFEST: InvalidManifestError,
  ERR_FERRY_MANIFEST_MISMATCH: ManifestMismatchError,
  ERR_FERRY_INTEGRITY: IntegrityError,
  ERR_FERRY_SIGNATURE: SignatureError,
  ERR_FERRY_ROLLBACK: RollbackError,
  ERR_FERRY_MANIFEST_EXPIRED: ManifestExpiredError,
  ERR_FERRY_EVALUATION: EvaluationError,
  ERR_FERRY_UNDECLARED_DEPENDENCY: UndeclaredDependencyError,
  ERR_FERRY_SHARED_UNAVAILABLE: SharedUnavailableError,
  ERR_FERRY_SHARED_VERSION: SharedVersionError,
  ERR_FERRY_CONTAINER: ContainerError,
  ERR_FERRY_HOST_CLOSED: HostClosedError,
  ERR_FERRY_CIRCUIT_OPEN: CircuitOpenError,
  ERR_FERRY_INCOMPATIBLE_VERSION: IncompatibleVersionError,
  ERR_FERRY_UPDATE_REFUSED: UpdateRefusedError,
  ERR_FERRY_REMOTE_CYCLE: RemoteCycleError,
  ERR_FERRY_CHANNEL: ChannelError,
  ERR_FERRY_BREAKING_CHANGE: BreakingChangeError,
  ERR_FERRY_LOCK: LockError,
  ERR_FERRY_UNSUPPORTED_CONTAINER: UnsupportedContainerError,
} as const;

/** The union of every stable error code; `switch (error.code)` over it is exhaustive. */
export type FerryErrorCode = keyof typeof errorClasses;
