/**
 * A loopback HTTP server on port 0 for runtime tests: serves a folder as plain static files (like any static server or
 * CDN would) and lets a test replace the answer for chosen paths to inject faults (404 pages, 500s, altered bytes).
 */
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export type Override = (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;

export interface Loopback extends AsyncDisposable {
  /** `http://127.0.0.1:<port>/` */
  url: string;
  /** Paths requested so far, in order. */
  requests: string[];
  /** Replace the answer for some requests: return true when the override answered. */
  override: Override | undefined;
  close(): Promise<void>;
}

/** Serves `dir` on 127.0.0.1 and a free port. */
export async function startLoopback(dir: string): Promise<Loopback> {
  const state: Loopback = {
    url: '',
    requests: [],
    override: undefined,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
    [Symbol.asyncDispose]: () => state.close(),
  };
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    state.requests.push(path);
    if (state.override && (await state.override(req, res))) return;
    try {
      const body = await readFile(join(dir, path));
      res.writeHead(200, { 'content-length': body.byteLength });
      res.end(body);
    } catch {
      res.writeHead(404, { 'content-type': 'text/html' });
      res.end('<html><body>Not found</body></html>');
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return state;
}
