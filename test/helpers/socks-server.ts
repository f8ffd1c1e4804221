// A real SOCKS5 server (MongoDB's maintained fork of socksv5) on 127.0.0.1:0, with
// user/password authentication (RFC 1929). It records the destination each client asked for,
// as it arrived: a name for socks5h (the parent resolves it), an address for socks5. `names`
// maps a name that does not resolve here (origin.test) to where it really is, as a remote
// resolver would.
import { createRequire } from 'node:module';
import type net from 'node:net';

interface SocksInfo {
  dstAddr: string;
  dstPort: number;
}
interface SocksModule {
  createServer(handler: (info: SocksInfo, accept: () => void, deny: () => void) => void): net.Server & { useAuth(auth: unknown): void; _srv: net.Server };
  auth: { UserPassword(check: (user: string, password: string, callback: (ok: boolean) => void) => void): unknown; None(): unknown };
}

const socks = createRequire(import.meta.url)('@mongodb-js/socksv5') as SocksModule;

export interface TestSocksServer {
  url: string;
  port: number;
  /** Destinations as the clients sent them: `host:port`. */
  destinations: string[];
  close(): Promise<void>;
}

export async function startSocksServer(options: { user: string; password: string; names?: Record<string, string> }): Promise<TestSocksServer> {
  const destinations: string[] = [];
  const server = socks.createServer((info, accept) => {
    destinations.push(`${info.dstAddr}:${info.dstPort}`);
    info.dstAddr = options.names?.[info.dstAddr] ?? info.dstAddr;
    accept();
  });
  server.useAuth(socks.auth.UserPassword((user, password, callback) => callback(user === options.user && password === options.password)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const sockets = new Set<net.Socket>();
  // The wrapper's own 'connection' event carries the SOCKS request; the sockets are its _srv's.
  server._srv.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  return {
    url: `127.0.0.1:${port}`,
    port,
    destinations,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
