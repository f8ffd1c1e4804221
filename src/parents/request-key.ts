// The routing key of a request as the pipeline and the tunnel code see it: its client identity
// and its session header (parents/session.ts). Undefined when no parent is configured, so a
// proxy without parents reads no header and allocates nothing. A request inside a tunnel served
// here (server/tunnel-contents.ts) without a session header of its own takes the CONNECT's, the
// way it takes the CONNECT's identity (policy/identity.ts inheritIdentity).
import type { IncomingMessage } from 'node:http';
import type { ProxyContext } from '../pipeline/context.js';
import { parseSessionHeader, type RouteKey } from './session.js';

type TunnelSession = Pick<RouteKey, 'session' | 'country'>;

const bySocket = new WeakMap<object, TunnelSession>();

/** Requests on `socket` without a session header are in the session of the CONNECT that opened it. */
export function inheritSession(socket: object, connectKey: RouteKey | undefined): void {
  const { session, country } = connectKey ?? {};
  if (session === undefined && country === undefined) return;
  bySocket.set(socket, { ...(session !== undefined && { session }), ...(country !== undefined && { country }) });
}

export function routeKeyOf(ctx: ProxyContext, clientReq: IncomingMessage, client: string | undefined): RouteKey | undefined {
  const parents = ctx.upstream.options.parents;
  if (!parents) return undefined;
  const header = parents.config.sessionHeader;
  const own = clientReq.headers[header];
  // The inner request's own header wins over the CONNECT's, whole (session and country together).
  const inherited = own === undefined ? bySocket.get(clientReq.socket) : undefined;
  if (inherited) return { ...(client !== undefined && { client }), ...inherited };
  return parseSessionHeader(header, own, client);
}
