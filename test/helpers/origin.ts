// A scripted origin on 127.0.0.1:0 that records every request it receives (method, url,
// headers), so tests can assert what and how much reached the origin.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

export interface OriginRequestRecord {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export type OriginHandler = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void | Promise<void>;

export interface Origin {
  url: string;
  host: string;
  port: number;
  requests: OriginRequestRecord[];
  server: http.Server;
  /** Requests whose path (with query) equals `path`. */
  requestsTo(path: string): OriginRequestRecord[];
  route(path: string, handler: OriginHandler): void;
  close(): Promise<void>;
}

/** `options.tls` (key and cert) makes it an HTTPS origin: `url` is then https://127.0.0.1:port. */
export async function startOrigin(routes: Record<string, OriginHandler> = {}, options: { tls?: https.ServerOptions } = {}): Promise<Origin> {
  const table = new Map(Object.entries(routes));
  const requests: OriginRequestRecord[] = [];
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const url = req.url ?? '/';
      requests.push({ method: req.method ?? 'GET', url, headers: req.headers, body });
      const handler = table.get(url) ?? table.get(url.split('?')[0]!) ?? table.get('*');
      if (!handler) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('no route\n');
        return;
      }
      Promise.resolve(handler(req, res, body)).catch((error: unknown) => {
        res.destroy(error as Error);
      });
    });
  };
  const server = options.tls ? https.createServer(options.tls, onRequest) : http.createServer(onRequest);
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    port,
    requests,
    server,
    requestsTo: (path) => requests.filter((r) => r.url === path),
    route: (path, handler) => void table.set(path, handler),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
