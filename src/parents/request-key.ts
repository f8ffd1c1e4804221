// The routing key of a request as the pipeline and the tunnel code see it: its client identity
// and its session header (parents/session.ts). Undefined when no parent is configured, so a
// proxy without parents reads no header and allocates nothing.
import type { IncomingMessage } from 'node:http';
import type { ProxyContext } from '../pipeline/context.js';
import { parseSessionHeader, type RouteKey } from './session.js';

export function routeKeyOf(ctx: ProxyContext, clientReq: IncomingMessage, client: string | undefined): RouteKey | undefined {
  const parents = ctx.upstream.options.parents;
  if (!parents) return undefined;
  const header = parents.config.sessionHeader;
  return parseSessionHeader(header, clientReq.headers[header], client);
}
