/** server: runs in the remote's process. Imports ../manifest and ../common only. */
export { etagOf, IMMUTABLE, ifNoneMatchMatches, looksContentHashed, REVALIDATE } from './cache-policy.ts';
export { contentTypeOf } from './content-types.ts';
export { createFerryServer, type FerryServer, type FerryServerOptions } from './create-server.ts';
export { type FastifyInstanceLike, type FerryFastifyOptions, ferryFastify } from './fastify.ts';
export { createRequestHandler, type RequestHandler, type RequestHandlerOptions } from './handler.ts';
export type { HandlerLimits, ServerLimits } from './limits.ts';
