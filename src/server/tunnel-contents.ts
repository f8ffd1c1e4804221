// What arrives inside a CONNECT tunnel and is served here rather than relayed as bytes: plain
// HTTP/1.1 (undici's ProxyAgent tunnels http:// this way) and, when intercepting, decrypted TLS.
// Either socket is handed to the same node:http server (mockttp's http-combo-server does the
// same) with the CONNECT's origin, identity and parent session attached, so the pipeline sees an absolute
// http:// or https:// target and the CONNECT's client, and knows nothing else of the tunnel.
import type http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { inheritSession } from '../parents/request-key.js';
import type { RouteKey } from '../parents/session.js';
import { inheritIdentity } from '../policy/identity.js';
import type { ClientIdentity } from '../policy/types.js';
import type { TunnelPayload } from '../tls/client-hello.js';
import type { Interceptor } from '../tls/interceptor.js';

export interface TunnelTarget {
  host: string;
  port: number;
  identity: ClientIdentity;
  /** The client's address (leaf signing is shared out per address). */
  client: string;
  /** Identity and session header of the CONNECT, for parent routing (parents/request-key.ts). */
  routeKey?: RouteKey;
}

/** What the connection bookkeeping (connection-guard.ts) hears of a tunnel after its CONNECT. */
export interface TunnelStates {
  /** The 200 is out and nothing has arrived yet: no request in flight. */
  waiting(socket: Duplex): void;
  /** A byte-for-byte tunnel: busy until it closes. */
  blind(socket: Duplex): void;
  /** Its contents are served here, on `inner` (the socket itself, or the decrypted one). */
  served(socket: Duplex, inner: Duplex): void;
}

export interface TunnelDeadline {
  /** Aborts at --headers-timeout after the 200: a TLS handshake must be done by then. */
  deadline?: AbortSignal;
  onTimeout?: () => void;
}

interface ServedTunnel {
  /** `http://host:port` or `https://host:port`: what its origin-form requests address. */
  origin: string;
  /** A request arrived (a TLS client that closes before any did may not trust our CA). */
  used: boolean;
}

const served = new WeakMap<object, ServedTunnel>();

/** An origin-form request-target from inside a tunnel, made absolute; others unchanged. */
export function absoluteTarget(clientReq: http.IncomingMessage): string | undefined {
  const url = clientReq.url;
  if (url === undefined || url.charCodeAt(0) !== 0x2f /* '/' */) return url;
  const tunnel = served.get(clientReq.socket);
  if (tunnel === undefined) return url;
  tunnel.used = true;
  return tunnel.origin + url;
}

export class TunnelContents {
  constructor(
    private readonly server: http.Server,
    private readonly interceptor: Interceptor | undefined,
    private readonly states: TunnelStates,
  ) {}

  intercepts(host: string): boolean {
    return this.interceptor?.intercepts(host) ?? false;
  }

  waiting(socket: Duplex): void {
    this.states.waiting(socket);
  }

  blind(socket: Duplex): void {
    this.states.blind(socket);
  }

  /**
   * Serve the tunnel here when its first bytes are HTTP, or TLS we intercept; false leaves it to
   * the raw tunnel. `socket` is paused with `firstBytes` already read from it.
   */
  serve(socket: Duplex, firstBytes: Buffer, payload: TunnelPayload, tunnel: TunnelTarget, handshake: TunnelDeadline = {}): boolean {
    const authority = tunnel.host.includes(':') ? `[${tunnel.host}]:${tunnel.port}` : `${tunnel.host}:${tunnel.port}`;
    if (payload === 'http') {
      socket.unshift(firstBytes);
      this.attach(socket, socket, `http://${authority}`, tunnel);
      // node's HTTP parser listens for 'data' on a socket that was already read from: let it flow.
      socket.resume();
      return true;
    }
    if (payload === 'tls' && this.interceptor && this.intercepts(tunnel.host)) {
      const interceptor = this.interceptor;
      interceptor.terminate(socket, firstBytes, tunnel.host, { client: tunnel.client, ...handshake }, (tlsSocket, name) => {
        const entry = this.attach(socket, tlsSocket, `https://${authority}`, tunnel);
        // Node and some other clients check our certificate after the handshake and just hang up.
        tlsSocket.once('close', () => {
          if (!entry.used) interceptor.closedUnused(name);
        });
      });
      return true;
    }
    return false;
  }

  private attach(socket: Duplex, inner: Duplex, origin: string, tunnel: TunnelTarget): ServedTunnel {
    const entry = { origin, used: false };
    served.set(inner, entry);
    inheritIdentity(inner, tunnel.identity);
    inheritSession(inner, tunnel.routeKey);
    this.states.served(socket, inner);
    this.server.emit('connection', inner as Socket);
    return entry;
  }
}
