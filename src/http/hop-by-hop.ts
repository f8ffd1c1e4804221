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

/** A copy of `headers` without hop-by-hop fields and without `extra` names. */
export function endToEnd(
  headers: IncomingHttpHeaders | OutgoingHttpHeaders,
  extra: readonly string[] = [],
): Record<string, string | string[]> {
  const named = new Set([...connectionTokens(headers['connection'] as string | string[] | undefined), ...extra]);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP_SET.has(name) || named.has(name)) continue;
    out[name] = typeof value === 'number' ? String(value) : value;
  }
  return out;
}
