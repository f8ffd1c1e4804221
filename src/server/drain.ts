// Closing a node:http listener gracefully: stop accepting, answer what arrives with
// `Connection: close`, close idle keep-alive connections after a short grace, let responses (and
// CONNECT tunnels, upgraded sockets) in flight finish until a deadline, then cut what is left. A
// connection whose response in flight already announced keep-alive is closed the moment that
// response is written, before its client can send another request into it.
// Used by the proxy (index.ts) and the admin listener; the signals that start it are cli/serve.ts's.
import type http from 'node:http';
import net, { type Socket } from 'node:net';

/** How long a connection idle when the drain begins may still bring a request (answered, then closed). */
const IDLE_GRACE_MS = 1000;
/** After our FIN, how long a client may take to close its side before the socket is destroyed. */
const LINGER_MS = 2000;

export interface Draining {
  /** Resolves once every connection has closed; `cut` counts those the deadline ended. */
  readonly done: Promise<{ cut: number }>;
  /** Bring the deadline forward (never back): `hurry(0)` cuts everything now. */
  hurry(timeoutMs: number): void;
  /** Milliseconds left before the deadline (0 once passed). */
  remainingMs(): number;
}

/** What a listener holds, as a drain needs to see it. */
export interface TrackedConnections {
  /** Every socket the server accepted (a tunnel or an upgraded socket stays one until it closes). */
  readonly sockets: ReadonlySet<Socket>;
  /** The response to the last request read on `socket`. */
  lastResponse(socket: Socket): http.ServerResponse | undefined;
}

/**
 * Track a server's connections from the start, so a drain can see requests in flight and cut
 * tunnels (a socket handed to a 'connect' or 'upgrade' listener is no longer one of node:http's
 * connections). `lastResponse`: where the server already keeps each socket's last response (the
 * proxy's connection guard); without it, a 'request' listener of its own keeps them.
 */
export function trackConnections(server: http.Server, lastResponse?: (socket: Socket) => http.ServerResponse | undefined): TrackedConnections {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  if (lastResponse) return { sockets, lastResponse };
  // A second 'request' listener costs every request an emit over a copied listener array.
  const responses = new WeakMap<Socket, http.ServerResponse>();
  server.on('request', (clientReq: http.IncomingMessage, clientRes: http.ServerResponse) => void responses.set(clientReq.socket, clientRes));
  return { sockets, lastResponse: (socket) => responses.get(socket) };
}

// RFC 9112 §9.6: a server that is about to close says `Connection: close` on its last response,
// so a keep-alive client does not send its next request into a closing socket.
function lastOnConnection(clientRes: http.ServerResponse): void {
  if (!clientRes.headersSent) clientRes.shouldKeepAlive = false;
}

/** Half-close now (our FIN follows the bytes written); destroy if the client never closes its side. */
function closeAfterLastResponse(socket: Socket): void {
  if (socket.destroyed) return;
  socket.end();
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

export function drainServer(server: http.Server, timeoutMs: number, tracked: TrackedConnections): Draining {
  let deadline = Date.now() + timeoutMs;
  let cut = 0;
  let resolveDone!: (result: { cut: number }) => void;
  const done = new Promise<{ cut: number }>((resolve) => (resolveDone = resolve));
  const { sockets } = tracked;

  const onRequest = (_req: http.IncomingMessage, clientRes: http.ServerResponse) => lastOnConnection(clientRes);
  server.prependListener('request', onRequest);
  for (const socket of sockets) {
    const clientRes = tracked.lastResponse(socket);
    if (!clientRes || clientRes.writableFinished) continue;
    if (!clientRes.headersSent) {
      lastOnConnection(clientRes);
      continue;
    }
    // It announced keep-alive before the drain began: the connection closes as soon as it is
    // written (node's own 'finish' listener ran first), so the client cannot reuse it. A request
    // that arrives anyway, pipelined, is answered with `Connection: close` (onRequest).
    clientRes.once('finish', () => {
      if (tracked.lastResponse(socket) === clientRes) closeAfterLastResponse(socket);
    });
  }

  // node's close() also closes the connections idle this instant, and a keep-alive client whose
  // next request is already on its way would get a reset. So the listener stops accepting first
  // (net.Server's close), and the idle connections get a short grace in which a request is still
  // answered, with `Connection: close`; then node's close() ends those still idle.
  let httpClosed = false;
  const closeHttp = (): void => {
    if (httpClosed) return;
    httpClosed = true;
    server.close();
  };
  let idleTimer: NodeJS.Timeout | undefined;

  const cutAll = (): void => {
    closeHttp();
    // An intercepted tunnel is two sockets (the TCP one and the TLS one inside it): one cut.
    for (const socket of sockets) if (!(socket as Socket & { encrypted?: boolean }).encrypted) cut++;
    server.closeAllConnections();
    // Tunnels and upgraded sockets are not node:http's connections any more.
    for (const socket of sockets) socket.destroy();
  };
  let timer = setTimeout(cutAll, timeoutMs);

  // The callback runs once every connection has ended (an error only says the server was not listening).
  const onClosed = (): void => {
    clearTimeout(timer);
    clearTimeout(idleTimer);
    // Drained within the grace: node's close() still clears its connection-checking interval
    // (which would hold the server); the listener being closed already, it only re-emits 'close'.
    closeHttp();
    server.off('request', onRequest);
    resolveDone({ cut });
  };
  const graceMs = Math.min(IDLE_GRACE_MS, timeoutMs / 2);
  if (graceMs <= 0) {
    httpClosed = true;
    server.close(onClosed);
  } else {
    net.Server.prototype.close.call(server, onClosed);
    idleTimer = setTimeout(closeHttp, graceMs);
  }

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
