/**
 * A fastify plugin that serves a build output folder under the prefix it is registered with. It needs no fastify
 * import: fastify is the application's dependency, and the plugin only uses `prefix`, `all()` and `reply.hijack()`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvalidOptionError } from '../common/errors.ts';
import { createRequestHandler } from './handler.ts';
import type { HandlerLimits } from './limits.ts';

/** The part of a fastify instance the plugin uses. */
export interface FastifyInstanceLike {
  /** The prefix the plugin was registered with (`''` at the root). */
  readonly prefix: string;
  all(
    path: string,
    handler: (request: { raw: IncomingMessage }, reply: { raw: ServerResponse; hijack(): unknown }) => void,
  ): unknown;
}

/** Options of {@link ferryFastify}; fastify's own `prefix` register option sets the URL path. */
export interface FerryFastifyOptions {
  /** The build output folder to serve. */
  dir: string;
  /** Called with errors that were answered with 500. */
  onError?: (error: unknown) => void;
  /** The event stream's limits, as for createRequestHandler (`maxSubscribers`, `streamLifetime`). */
  limits?: HandlerLimits;
}

/**
 * Serves `dir` under the prefix the plugin is registered with. The handler writes to `reply.raw` after
 * `reply.hijack()`, so fastify's serializers and `onSend` hooks do not run for these responses.
 *
 * @example
 * ```ts
 * const app = Fastify();
 * await app.register(ferryFastify, { prefix: '/federation', dir: 'dist/federation' });
 * // GET /federation/mf-manifest.json
 * ```
 */
export async function ferryFastify(instance: FastifyInstanceLike, options: FerryFastifyOptions): Promise<void> {
  if (typeof options !== 'object' || options === null || typeof options.dir !== 'string') {
    throw new InvalidOptionError('ferryFastify needs { dir: "<build output folder>" } in its register options.', {
      option: 'dir',
    });
  }
  const handler = createRequestHandler({
    dir: options.dir,
    prefix: instance.prefix,
    onError: options.onError,
    ...(options.limits !== undefined ? { limits: options.limits } : {}),
  });
  const route = (request: { raw: IncomingMessage }, reply: { raw: ServerResponse; hijack(): unknown }) => {
    reply.hijack();
    handler(request.raw, reply.raw);
  };
  instance.all('/*', route);
}
