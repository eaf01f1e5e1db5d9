/**
 * Checks the options of {@link createRequestHandler} once, at the boundary: unknown keys are rejected by name, the
 * folder must exist now (a typo or a missing `ferry build` is reported at start-up, not as 404s later), and the
 * result is frozen.
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { InvalidOptionError } from '../common/errors.ts';
import { type HandlerLimits, type ResolvedServerLimits, resolveLimits } from './limits.ts';

/** Options of `createRequestHandler`. */
export interface RequestHandlerOptions {
  /** The build output folder to serve (what `ferry build` wrote, by default `dist/federation`). */
  dir: string;
  /**
   * A URL path prefix to strip, such as `/federation`, for mounts that pass the full URL (node:http, fastify's
   * `request.raw`). Leave it out under express's `app.use('/federation', handler)`, which strips the mount path.
   */
  prefix?: string;
  /** Called with errors that were answered with 500 (the response never contains paths or messages). */
  onError?: (error: unknown) => void;
  /**
   * Serve `mf-manifest.events`, the server-sent event stream that announces each new manifest to hosts (default
   * true). Set false behind a proxy that cannot stream; hosts then poll.
   */
  events?: boolean;
  /**
   * `maxSubscribers` (default: half the process's descriptor limit, at most 10 000) and `streamLifetime` (default
   * 10 min) of the event stream; see the README's "Server limits".
   */
  limits?: HandlerLimits;
}

/** The checked options. */
export interface ResolvedHandlerOptions {
  readonly dir: string;
  readonly prefix: string;
  readonly onError: ((error: unknown) => void) | undefined;
  readonly events: boolean;
  readonly limits: ResolvedServerLimits;
}

const KNOWN = new Set(['dir', 'prefix', 'onError', 'events', 'limits']);
const PREFIX = /^(?:\/[A-Za-z0-9._~@-]+)+$/;
const DOT_SEGMENT = /\/\.\.?(?:\/|$)/;

function invalid(option: string, message: string): never {
  throw new InvalidOptionError(message, { option });
}

/** Validates and normalises handler options; throws {@link InvalidOptionError} naming the bad option. */
export function resolveHandlerOptions(options: RequestHandlerOptions): ResolvedHandlerOptions {
  if (typeof options !== 'object' || options === null) {
    invalid('options', 'createRequestHandler() needs an options object such as { dir: "dist/federation" }.');
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) {
      invalid(
        key,
        `createRequestHandler() got an unknown option "${key}"; the options are dir, prefix, onError, events and limits.`,
      );
    }
  }
  const { dir, prefix = '', onError, events = true } = options;
  const limits = resolveLimits(options.limits, 'createRequestHandler()');
  if (typeof events !== 'boolean') invalid('events', 'createRequestHandler() option "events" must be true or false.');
  if (typeof dir !== 'string' || dir === '') {
    invalid(
      'dir',
      'createRequestHandler() option "dir" must be the path of a build output folder, e.g. "dist/federation".',
    );
  }
  if (typeof prefix !== 'string')
    invalid('prefix', 'createRequestHandler() option "prefix" must be a string like "/federation".');
  const normalisedPrefix = prefix.replace(/\/+$/, '');
  if (normalisedPrefix !== '' && (!PREFIX.test(normalisedPrefix) || DOT_SEGMENT.test(normalisedPrefix))) {
    invalid(
      'prefix',
      `createRequestHandler() option "prefix" must be a URL path like "/federation" (letters, digits, ".", "_", "~", ` +
        `"@", "-" between slashes, no "." or ".." segments), got ${JSON.stringify(prefix)}.`,
    );
  }
  if (onError !== undefined && typeof onError !== 'function') {
    invalid('onError', 'createRequestHandler() option "onError" must be a function (error) => void.');
  }
  const absolute = resolve(dir);
  let isDirectory = false;
  try {
    isDirectory = statSync(absolute).isDirectory();
  } catch (cause) {
    throw new InvalidOptionError(
      `The build output folder ${absolute} does not exist. Run \`ferry build\` first, or pass the folder it wrote.`,
      { option: 'dir', file: absolute, cause },
    );
  }
  if (!isDirectory) {
    throw new InvalidOptionError(
      `${absolute} is not a folder. Pass the build output folder that \`ferry build\` wrote (by default dist/federation).`,
      { option: 'dir', file: absolute },
    );
  }
  return Object.freeze({ dir: absolute, prefix: normalisedPrefix, onError, events, limits });
}
