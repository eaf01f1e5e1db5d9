/**
 * The network client of a host: every request to a remote goes through one pipeline of small wrappers around the
 * HTTP fetch, as undici composes interceptors around a dispatcher. From the outside in:
 *
 * 1. `deadline` (deadline.ts): the request runs under its import's deadline;
 * 2. `breaker` (breaker.ts): the remote's circuit breaker admits the request (with all its retries) or refuses it,
 *    and records how it ended;
 * 3. `retry` (retry.ts): attempts with backoff while the failure may pass and the deadline allows;
 * 4. `dispatch` (fetch-bytes.ts): one HTTP request with its phase deadlines, byte cap, status check and origin policy.
 */
import type { FerryError } from '../../common/errors.ts';
import { type Breaker, breaker } from './breaker.ts';
import { type Deadlines, deadline } from './deadline.ts';
import { dispatch, type FetchBytesResult, type FetchLike } from './fetch-bytes.ts';
import type { Connections } from './http-client.ts';
import type { RetryPolicy } from './retry.ts';
import { retry } from './retry.ts';

/** What the client keeps about a remote between requests (a field set of the remote's record). */
export interface RemoteRequestState {
  /** The remote's circuit breaker (`undefined` when turned off). */
  readonly breaker: Breaker | undefined;
  /** The last failure of a request, if the last request failed (`host.remotes()`). */
  lastError: { code: string; message: string; at: string } | undefined;
  /** The last unavailability failure: the cause an open breaker names. */
  lastFailure: FerryError | undefined;
}

/** The options of the remote a request is made for (its own deadlines and retry policy). */
export interface RemoteRequestOptions {
  readonly alias: string;
  readonly timeouts: {
    readonly connect: number;
    readonly headers: number;
    readonly body: number;
    readonly request: number;
    readonly import: number;
  };
  readonly retry: Readonly<RetryPolicy>;
}

/** One request to a remote. */
export interface RemoteRequest {
  url: string;
  /** The remote's state: its breaker and last failure. */
  state: RemoteRequestState;
  /** The remote's options for this request (an alias being re-pointed is checked with its new ones). */
  remote: RemoteRequestOptions;
  /** Refuse (and stop reading) a body larger than this. */
  maxBytes: number;
  /** What is fetched, for messages (`manifest`, `file remoteEntry.js`). */
  what: string;
  /** A conditional request: send If-None-Match and accept a 304. */
  etag?: string | undefined;
  /** A 404 resolves with `status: 404` instead of failing. */
  allowNotFound?: boolean;
  /**
   * One attempt, no retries: the caller has a verified copy to serve if this fails (stale-if-error), and the
   * background refresh does the retrying, so an import does not wait out the backoff of a remote that is down.
   */
  once?: boolean;
  /** Set by `deadline`: when everything of this request must be over (a `performance.now()` time). */
  deadlineAt?: number;
  /** Set by `retry`: what is left of the deadline for this attempt, in ms. */
  remainingMs?: number;
}

/** Sends a request and resolves with its bytes. */
export type Fetcher = (request: RemoteRequest) => Promise<FetchBytesResult>;

/** Wraps a fetcher with one concern. */
export type Interceptor = (next: Fetcher) => Fetcher;

/** `compose(fetch, a, b)` is `a(b(fetch))`: the first interceptor sees the request first. */
export function compose(fetcher: Fetcher, ...interceptors: Interceptor[]): Fetcher {
  return interceptors.reduceRight((next, interceptor) => interceptor(next), fetcher);
}

/** What the client needs of its host. */
export interface RemoteClientOptions {
  deadlines: Deadlines;
  /** The host's custom fetch, if any. */
  fetch: FetchLike | undefined;
  /** The origins the host may fetch from (read at each request: remotes added later count). */
  origins: ReadonlySet<string>;
  /** The host's kept connections (closed with the host). */
  connections?: Connections | undefined;
}

/** The host's client: deadline, breaker, retry and the HTTP fetch, composed. */
export function createRemoteClient(options: RemoteClientOptions): Fetcher {
  return compose(dispatch(options), deadline(options.deadlines), breaker(), retry());
}
