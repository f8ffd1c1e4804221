// The header fields of a request on its way to the origin: end-to-end fields only, Host set to
// the target's authority (RFC 9112 §3.2.2), our Via appended (RFC 9110 §7.6.3), plus the
// fields the caller removes (identity, client validators) or sets (our validators).
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { endToEnd } from './hop-by-hop.js';
import type { OriginResponse } from './origin-response.js';
import { viaFor, VIA_PSEUDONYM } from './via.js';

/**
 * Expect was answered by this proxy (node sends 100 Continue itself); Host is rewritten; the
 * framing (Content-Length, Transfer-Encoding) is the caller's to set from what it sends, never
 * the client's (STYLE.md invariant 1: a copied Content-Length without its body desynchronises
 * the pooled upstream connection).
 */
const NEVER_FORWARDED = ['expect', 'host', 'content-length', 'transfer-encoding'];

/** The fields a kind of forward drops: NEVER_FORWARDED plus `lists`; build once, pass per request. */
export function droppedFields(...lists: ReadonlyArray<readonly string[]>): ReadonlySet<string> {
  return new Set([...NEVER_FORWARDED, ...lists.flat()]);
}

// The Via we add to a message that had none, by the version it arrived in (most of them).
const OWN_VIA: Readonly<Record<string, string>> = { '1.1': `1.1 ${VIA_PSEUDONYM}`, '1.0': `1.0 ${VIA_PSEUDONYM}` };

function ourVia(message: { httpVersion: string }, existing: string | string[] | undefined): string {
  return (existing === undefined && OWN_VIA[message.httpVersion]) || viaFor(message, existing);
}

export function forwardHeaders(clientReq: IncomingMessage, target: URL, drop: ReadonlySet<string>, set?: Record<string, string>): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = endToEnd(clientReq.headers, drop);
  headers['host'] = target.host;
  headers['via'] = ourVia(clientReq, clientReq.headers['via']);
  if (set) for (const name in set) headers[name] = set[name];
  return headers;
}

/** Response fields for the client: end-to-end fields of the origin's response plus ours. */
export function relayHeaders(originRes: OriginResponse, set: Record<string, string>): Record<string, string | string[]> {
  const headers = endToEnd(originRes.headers);
  headers['via'] = ourVia(originRes, originRes.headers['via']);
  for (const name in set) headers[name] = set[name]!;
  return headers;
}
