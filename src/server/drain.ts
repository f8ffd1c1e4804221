// Closing a node:http listener gracefully: stop accepting, close idle keep-alive connections,
// let responses (and CONNECT tunnels) in flight finish until a deadline, then cut what is left.
// Used by the proxy (index.ts) and the admin listener; the signals that start it are cli/serve.ts's.
import type http from 'node:http';
import type { Socket } from 'node:net';

/** How often idle keep-alive connections are looked for while draining. */
const IDLE_SWEEP_MS = 50;

export interface Draining {
  /** Resolves once every connection has closed; `cut` counts those the deadline ended. */
  readonly done: Promise<{ cut: number }>;
  /** Bring the deadline forward (never back): `hurry(0)` cuts everything now. */
  hurry(timeoutMs: number): void;
  /** Milliseconds left before the deadline (0 once passed). */
  remainingMs(): number;
}

/**
 * Every socket the server accepted, so a drain can see requests in flight and cut tunnels
 * (a socket handed to a 'connect' listener is no longer one of node:http's connections).
 */
export function trackConnections(server: http.Server): ReadonlySet<Socket> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  return sockets;
}

/** node:http's response in progress on a socket; internal, but unchanged since Node 0.x. */
type WithMessage = Socket & { _httpMessage?: http.ServerResponse | null };

// RFC 9112 §9.6: a server that is about to close says `Connection: close` on its last response,
// so a keep-alive client does not send its next request into a closing socket.
function lastOnConnection(res: http.ServerResponse | null | undefined): void {
  if (res && !res.headersSent) res.shouldKeepAlive = false;
}

export function drainServer(server: http.Server, timeoutMs: number, sockets?: ReadonlySet<Socket>): Draining {
  let deadline = Date.now() + timeoutMs;
  let cut = 0;
  let resolveDone!: (result: { cut: number }) => void;
  const done = new Promise<{ cut: number }>((resolve) => (resolveDone = resolve));

  const onRequest = (_req: http.IncomingMessage, res: http.ServerResponse) => lastOnConnection(res);
  server.prependListener('request', onRequest);
  for (const socket of sockets ?? []) lastOnConnection((socket as WithMessage)._httpMessage);

  const cutAll = (): void => {
    cut += sockets ? sockets.size : 0;
    server.closeAllConnections();
    for (const socket of sockets ?? []) socket.destroy();
  };
  let timer = setTimeout(cutAll, timeoutMs);
  // A response that finishes leaves its keep-alive socket idle; close those as they appear.
  const sweep = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS);
  sweep.unref();

  // Node 19+: close() also closes the connections that are idle now. Its callback runs once
  // every connection has ended (an error only says the server was not listening).
  server.close(() => {
    clearTimeout(timer);
    clearInterval(sweep);
    server.off('request', onRequest);
    resolveDone({ cut });
  });
  server.closeIdleConnections();

  return {
    done,
    hurry(ms) {
      const sooner = Date.now() + ms;
      if (sooner >= deadline) return;
      deadline = sooner;
      clearTimeout(timer);
      timer = setTimeout(cutAll, ms);
    },
    remainingMs: () => Math.max(0, deadline - Date.now()),
  };
}
