// The header fields of a request on its way to the origin: end-to-end fields only, less those
// the path's row of the table leaves behind (upstream-fields.ts), Host set to the target's
// authority (RFC 9112 §3.2.2), our Via appended (RFC 9110 §7.6.3), plus the fields the caller
// sets (framing, our validators, the planned ones).
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { droppedWith, endToEnd, endToEndLines } from './hop-by-hop.js';
import type { OriginResponse } from './origin-response.js';
import { viaFor, VIA_PSEUDONYM } from './via.js';

// The Via we add to a message that had none, by the version it arrived in (most of them).
const OWN_VIA: Readonly<Record<string, string>> = { '1.1': `1.1 ${VIA_PSEUDONYM}`, '1.0': `1.0 ${VIA_PSEUDONYM}` };

function ourVia(message: { httpVersion: string }, existing: string | string[] | undefined): string {
  return (existing === undefined && OWN_VIA[message.httpVersion]) || viaFor(message, existing);
}

/** `drop`: the path's fields not copied (upstream-fields.ts notCopied, through pipeline/origin-fields.ts). */
export function forwardHeaders(clientReq: IncomingMessage, target: URL, drop: ReadonlySet<string>, set?: Record<string, string>): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = endToEnd(clientReq.headers, drop);
  headers['host'] = target.host;
  headers['via'] = ourVia(clientReq, clientReq.headers['via']);
  if (set) for (const name in set) headers[name] = set[name];
  return headers;
}

/** Not relayed: hop-by-hop fields, and those relayHeaders sets itself (an origin's Cache-Status is replaced by ours). */
const NOT_RELAYED = droppedWith(['via', 'cache-status']);

/** Response fields for the client, as [name, value, …] lines: the end-to-end fields of the origin's response, our Via and our Cache-Status. */
export function relayHeaders(originRes: OriginResponse, cacheStatus: string): string[] {
  const lines = endToEndLines(originRes.headers, NOT_RELAYED);
  lines.push('via', ourVia(originRes, originRes.headers['via']), 'cache-status', cacheStatus);
  return lines;
}
