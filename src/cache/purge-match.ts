// Which stored URLs a purge by prefix or by host removes: pure matching on the URL kept in each
// entry's meta (cache/entry.ts storedUrl: scheme and host lower case, userinfo dropped, secret
// query values redacted). The walk over the store and the deletes are admin/cache-routes.ts's job.
import { ProxyError } from '../errors.js';

export type PurgeTarget = { kind: 'prefix'; prefix: string } | { kind: 'host'; host: string };

/** The query of DELETE /cache (or the CLI's flags) as a target; 400 names what is wrong. */
export function purgeTarget(query: URLSearchParams): PurgeTarget | undefined {
  const prefix = query.get('prefix');
  const host = query.get('host');
  if (prefix !== null && host !== null) throw new ProxyError(400, 'bad_request', 'give one of url, prefix or host, not several');
  if (prefix !== null) {
    // Scheme and host compare case-insensitively (RFC 9110 §4.2.3), as the stored URL has them.
    const match = /^(https?:\/\/)([^/?#]+)(.*)$/i.exec(prefix);
    if (!match) throw new ProxyError(400, 'bad_request', `prefix: expected an absolute http:// or https:// URL prefix, got ${JSON.stringify(prefix)}`);
    return { kind: 'prefix', prefix: `${match[1]!.toLowerCase()}${match[2]!.toLowerCase()}${match[3]}` };
  }
  if (host !== null) {
    if (!/^[^\s/?#@]+$/.test(host)) throw new ProxyError(400, 'bad_request', `host: expected a host name (with an optional :port), got ${JSON.stringify(host)}`);
    return { kind: 'host', host: host.toLowerCase() };
  }
  return undefined;
}

/**
 * Does the purge remove the entry stored for `href`? Hosts compare as the URL shows them
 * (default ports omitted); a host given without a port matches every port.
 */
export function purgeMatches(target: PurgeTarget, href: string): boolean {
  if (target.kind === 'prefix') return href.startsWith(target.prefix);
  const authority = /^https?:\/\/([^/?#]+)/i.exec(href)?.[1]?.toLowerCase();
  if (!authority) return false;
  if (authority === target.host) return true;
  return !hasPort(target.host) && withoutPort(authority) === target.host;
}

const PORT = /:\d+$/;
const hasPort = (authority: string): boolean => PORT.test(authority);
const withoutPort = (authority: string): string => authority.replace(PORT, '');
