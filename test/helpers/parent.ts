// A real third-party forward proxy as a parent: apify's proxy-chain (HTTP, optional Basic auth,
// CONNECT, optional TLS to it), started on 127.0.0.1:0. It records what reached it (who
// authenticated, the target, the header fields) and counts the bytes on its client side, so
// tests assert which parent carried which request and what it carried.
import type http from 'node:http';
import type https from 'node:https';
import { Server, type ConnectionStats, type PrepareRequestFunction } from 'proxy-chain';

export interface ParentRequestRecord {
  method: string;
  /** Absolute URL for http://, host:port for a CONNECT. */
  url: string;
  hostname: string;
  isHttp: boolean;
  username: string;
  password: string;
  headers: http.IncomingHttpHeaders;
}

export interface TestParent {
  /** http://127.0.0.1:port (or https://). */
  url: string;
  port: number;
  requests: ParentRequestRecord[];
  /** Bytes proxy-chain read from and wrote to the proxy (closed connections and open ones). */
  bytes(): { fromProxy: number; toProxy: number };
  close(): Promise<void>;
}

export async function startParent(options: { user?: string; password?: string; https?: https.ServerOptions } = {}): Promise<TestParent> {
  const requests: ParentRequestRecord[] = [];
  const closed = { fromProxy: 0, toProxy: 0 };
  const prepareRequestFunction: PrepareRequestFunction = ({ request, username, password, hostname, isHttp }) => {
    requests.push({ method: request.method ?? '', url: request.url ?? '', hostname, isHttp, username, password, headers: { ...request.headers } });
    const refused = options.user !== undefined && (username !== options.user || password !== options.password);
    return { requestAuthentication: refused };
  };
  const base = { port: 0, host: '127.0.0.1', prepareRequestFunction };
  const server = options.https ? new Server({ ...base, serverType: 'https', httpsOptions: options.https }) : new Server(base);
  server.on('connectionClosed', ({ stats }: { stats?: ConnectionStats }) => {
    if (!stats) return;
    closed.fromProxy += stats.srcRxBytes;
    closed.toProxy += stats.srcTxBytes;
  });
  await server.listen();
  const port = server.port;
  return {
    url: `${options.https ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    requests,
    bytes() {
      const total = { ...closed };
      for (const id of server.getConnectionIds()) {
        const stats = server.getConnectionStats(id);
        if (!stats) continue;
        total.fromProxy += stats.srcRxBytes;
        total.toProxy += stats.srcTxBytes;
      }
      return total;
    },
    close: () => server.close(true),
  };
}
