// Hop-by-hop header fields (RFC 9110 §7.6.1): never forwarded by a proxy, in either direction,
// together with every field the Connection header names.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

export const HOP_BY_HOP = [
  'connection', // RFC 9110 §7.6.1
  'keep-alive', // RFC 9112 Appendix C.2.2
  'proxy-connection', // non-standard, sent by old clients
  'proxy-authorization', // RFC 9110 §11.7.2: consumed by the proxy
  'proxy-authenticate', // RFC 9110 §11.7.1
  'te', // RFC 9110 §10.1.4
  'trailer', // RFC 9110 §6.6.2
  'transfer-encoding', // RFC 9112 §6.1
  'upgrade', // RFC 9110 §7.8
] as const;

const HOP_BY_HOP_SET: ReadonlySet<string> = new Set(HOP_BY_HOP);

/** Lower-case names listed in Connection (RFC 9110 §7.6.1). */
export function connectionTokens(connection: string | string[] | undefined): string[] {
  if (!connection) return [];
  const joined = Array.isArray(connection) ? connection.join(',') : connection;
  return joined
    .split(',')
    .map((t) => t.trim().toLowerCase())
    .filter(Boolean);
}

const NONE: ReadonlySet<string> = new Set();
// Lists a caller passes again and again (constants) become a set once.
const extraSets = new WeakMap<readonly string[], ReadonlySet<string>>();

function asSet(extra: readonly string[] | ReadonlySet<string>): ReadonlySet<string> {
  if (!Array.isArray(extra)) return extra as ReadonlySet<string>;
  let set = extraSets.get(extra);
  if (!set) extraSets.set(extra, (set = new Set(extra)));
  return set;
}

/** A copy of `headers` without hop-by-hop fields and without `extra` names (lower case). */
export function endToEnd(
  headers: IncomingHttpHeaders | OutgoingHttpHeaders,
  extra: readonly string[] | ReadonlySet<string> = NONE,
): Record<string, string | string[]> {
  const dropped = asSet(extra);
  const connection = headers['connection'] as string | string[] | undefined;
  // Only a Connection field names more (most requests and responses have none, or "keep-alive").
  const named = connection && connection !== 'keep-alive' && connection !== 'close' ? new Set(connectionTokens(connection)) : NONE;
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP_SET.has(name) || dropped.has(name) || named.has(name)) continue;
    out[name] = typeof value === 'number' ? String(value) : value;
  }
  return out;
}

/**
 * The end-to-end fields of `headers` as [name, value, …] lines (a list value gives a line per
 * member), less `dropped` (made with droppedWith: hop-by-hop fields and the caller's own): what
 * writeHead takes as it is, with no object of fields built per response and copied into another.
 */
export function endToEndLines(headers: IncomingHttpHeaders, dropped: HopByHopAnd): string[] {
  const connection = headers['connection'];
  const named = connection && connection !== 'keep-alive' && connection !== 'close' ? new Set(connectionTokens(connection)) : NONE;
  const lines: string[] = [];
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || dropped.has(name) || named.has(name)) continue;
    if (typeof value === 'string') lines.push(name, value);
    else for (const line of value) lines.push(name, line);
  }
  return lines;
}

/** The hop-by-hop fields and `names`, in one set (one lookup per field). */
export type HopByHopAnd = ReadonlySet<string> & { readonly hopByHop: true };

export function droppedWith(names: readonly string[]): HopByHopAnd {
  return Object.assign(new Set([...HOP_BY_HOP, ...names]), { hopByHop: true as const });
}
