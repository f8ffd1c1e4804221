// The Via header a proxy must add in each direction (RFC 9110 §7.6.3).
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
