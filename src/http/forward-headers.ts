// The header fields of a request on its way to the origin: end-to-end fields only, Host set to
// the target's authority (RFC 9112 §3.2.2), our Via appended (RFC 9110 §7.6.3), plus the
// fields the caller removes (identity, client validators) or sets (our validators).
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { endToEnd } from './hop-by-hop.js';
import { viaFor } from './via.js';

/**
 * Expect was answered by this proxy (node sends 100 Continue itself); Host is rewritten; the
 * framing (Content-Length, Transfer-Encoding) is the caller's to set from what it sends, never
 * the client's (STYLE.md invariant 1: a copied Content-Length without its body desynchronises
 * the pooled upstream connection).
 */
const NEVER_FORWARDED = ['expect', 'host', 'content-length', 'transfer-encoding'];

export function forwardHeaders(
  clientReq: IncomingMessage,
  target: URL,
  drop: readonly string[],
  set: Record<string, string> = {},
): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = endToEnd(clientReq.headers, [...NEVER_FORWARDED, ...drop]);
  headers['host'] = target.host;
  headers['via'] = viaFor(clientReq, clientReq.headers['via']);
  return Object.assign(headers, set);
}

/** Response fields for the client: end-to-end fields of the origin's response plus ours. */
export function relayHeaders(originRes: IncomingMessage, set: Record<string, string>): Record<string, string | string[]> {
  const headers = endToEnd(originRes.headers);
  headers['via'] = viaFor(originRes, originRes.headers['via']);
  return Object.assign(headers, set);
}
