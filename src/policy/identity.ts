// Who is asking, in this order: the user name of Proxy-Authorization: Basic (so
// HTTP_PROXY=http://scraper-7:secret@proxy:8080 works with every client library), the
// configured identity header, then the client's IP address. None of it reaches the origin.
// Requests inside a CONNECT tunnel default to the identity of that CONNECT.
// That id is a label any client can claim; `verified` is what the proxy checked (a user whose
// password it compared, else the connection's address), and only it keys per-client entries.
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { IdentityConfig } from '../config/types.js';
import { ProxyError } from '../errors.js';
import type { ClientIdentity } from './types.js';

const CHALLENGE = { 'proxy-authenticate': 'Basic realm="etag-proxy", charset="UTF-8"' };

function authRequired(reason: string): ProxyError {
  return new ProxyError(407, 'proxy_auth_required', reason, CHALLENGE);
}

function samePassword(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function parseBasic(value: string): { user: string; password: string } | null {
  const match = /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(value);
  if (!match) return null;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = colon < 0 ? decoded : decoded.slice(0, colon);
  return user ? { user, password: colon < 0 ? '' : decoded.slice(colon + 1) } : null;
}

export function identifyClient(clientReq: IncomingMessage, config: IdentityConfig): ClientIdentity {
  // The connection's identity: its address, or (inside a tunnel) the CONNECT's identity.
  const connection = identityOfSocket(clientReq.socket);
  const authorization = clientReq.headers['proxy-authorization'];
  if (authorization) {
    const credentials = parseBasic(authorization);
    if (!credentials) throw authRequired('Proxy-Authorization must be Basic with a user name');
    let checkPasswords = false;
    for (const _ in config.users) {
      checkPasswords = true;
      break;
    }
    if (checkPasswords) {
      const expected = config.users[credentials.user];
      if (expected === undefined || !samePassword(credentials.password, expected)) {
        throw authRequired(`wrong user or password for ${JSON.stringify(credentials.user)}`);
      }
    }
    return { id: credentials.user, source: 'proxy-authorization', verified: checkPasswords ? `user:${credentials.user}` : connection.verified };
  }
  // Inside a tunnel, the CONNECT's authentication covers the requests it carries.
  if (config.requireAuth && connection.source !== 'proxy-authorization') throw authRequired('this proxy requires Proxy-Authorization');
  const named = clientReq.headers[config.header];
  const fromHeader = Array.isArray(named) ? named[0] : named;
  if (fromHeader?.trim()) return { id: fromHeader.trim(), source: 'header', verified: connection.verified };
  return connection;
}

// Keep-alive connections carry many requests from one address: resolve it once per socket.
// A socket served from inside a CONNECT tunnel carries the CONNECT's identity here instead.
const bySocket = new WeakMap<object, ClientIdentity>();

/** Requests on `socket` that do not name themselves are the client that opened its tunnel. */
export function inheritIdentity(socket: object, identity: ClientIdentity): void {
  bySocket.set(socket, identity);
}

function identityOfSocket(socket: Socket): ClientIdentity {
  let identity = bySocket.get(socket);
  if (!identity) {
    const ip = socket.remoteAddress ?? 'unknown';
    const id = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
    identity = { id, source: 'ip', verified: `ip:${id}` };
    bySocket.set(socket, identity);
  }
  return identity;
}

/**
 * Whose isolate ledger a request reads and writes: its name within what the proxy verified, so a
 * label claimed from another address (or without the password) never reaches the ledger of the
 * client it names, which would honour validators that were served to that client only.
 */
export function ledgerClient(identity: ClientIdentity): string {
  return identity.verified === `user:${identity.id}` ? identity.verified : `${identity.verified} ${identity.id}`;
}
