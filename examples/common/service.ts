/**
 * What both demo services do the same way: read their port from the environment, listen on loopback and print the
 * line that start.ts and the tests wait for, and shut down cleanly on Ctrl-C.
 *
 * @example
 * ```ts
 * const server = await listen(app, 'auth-service', portFromEnv('AUTH_SERVICE_PORT', 3001));
 * onShutdown(() => closeServer(server));
 * ```
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';

/** The port in `process.env[variable]` (0 picks a free one), or `fallback`; exits with a message if invalid. */
export function portFromEnv(variable: string, fallback: number): number {
  const text = process.env[variable];
  if (text === undefined || text === '') return fallback;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`${variable} must be a port number from 0 to 65535 (0 picks a free port), got "${text}".`);
    process.exit(1);
  }
  return port;
}

/**
 * Listens on 127.0.0.1 and prints `<name> listening on http://127.0.0.1:<port>`. Express 5 hands listen errors
 * (EADDRINUSE) to this callback instead of throwing; the article's callback ignored them and exited 0.
 */
export function listen(app: Express, name: string, port: number): Promise<Server> {
  return new Promise((resolve) => {
    const server = app.listen(port, '127.0.0.1', (error) => {
      if (error) {
        const hint = (error as NodeJS.ErrnoException).code === 'EADDRINUSE' ? ' (in use: pick another port)' : '';
        console.error(`${name}: cannot listen on port ${port}${hint}: ${error.message}`);
        process.exit(1);
      }
      console.log(`${name} listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`);
      resolve(server);
    });
  });
}

/** Closes the server, including idle keep-alive connections, so the process can exit. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Runs `cleanup` once on SIGINT or SIGTERM, then exits 0 (1 if cleanup failed). */
export function onShutdown(cleanup: () => Promise<void>): void {
  let started = false;
  const stop = () => {
    if (started) return;
    started = true;
    cleanup().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error('shutdown failed:', error);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
