// The Via header a proxy must add in each direction (RFC 9110 §7.6.3), and the loop check it
// allows (RFC 9110 §7.6.3: Via is how forwarding loops are detected).
import type { IncomingMessage } from 'node:http';

export const VIA_PSEUDONYM = 'etag-proxy';

export function appendVia(existing: string | string[] | undefined, httpVersion: string): string {
  const own = `${httpVersion} ${VIA_PSEUDONYM}`;
  if (!existing) return own;
  return `${Array.isArray(existing) ? existing.join(', ') : existing}, ${own}`;
}

export function viaFor(message: Pick<IncomingMessage, 'httpVersion'>, existing: string | string[] | undefined): string {
  return appendVia(existing, message.httpVersion || '1.1');
}

/**
 * How many times this proxy's pseudonym already appears in a request's Via. A request that has
 * passed through etag-proxy this often is going round in a loop (say, the proxy reached under a
 * name it does not know as its own); a few legitimately chained proxies stay well below it.
 */
export const MAX_OWN_HOPS = 5;

export function ownHops(via: string | string[] | undefined): number {
  if (!via) return 0;
  const text = Array.isArray(via) ? via.join(',') : via;
  let hops = 0;
  for (let at = text.indexOf(VIA_PSEUDONYM); at !== -1; at = text.indexOf(VIA_PSEUDONYM, at + VIA_PSEUDONYM.length)) hops++;
  return hops;
}
