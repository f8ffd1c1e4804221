// Answers the proxy makes itself: errors (400/407/502/504…) with a short text body, and the
// help page for requests addressed to the proxy's own port. If the response head already
// went out, a status can no longer be sent: the connection is cut instead.
import { ALLOWED_METHODS } from '../server/early-answers.js';
import type { Tx } from './transaction.js';
import type { Step } from './step.js';

export const HELP_PAGE = `etag-proxy: a forward caching HTTP proxy.

Point your client at this address as its HTTP proxy, for example:
  curl -x http://HOST:PORT http://example.com/
  HTTP_PROXY=http://HOST:PORT your-scraper

Every response carries a Cache-Status header saying what the cache did.
`;

export async function synth(tx: Tx): Promise<Step> {
  const { clientRes, error } = tx;
  if (clientRes.headersSent) {
    clientRes.destroy();
    return 'done';
  }
  const status = error?.status ?? 500;
  const body = error ? `${status} ${error.code}: ${error.message}\n` : '500 internal_error\n';
  if (error) tx.log.error = error.code;
  clientRes.writeHead(status, {
    ...error?.headers,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'cache-status': tx.status.toString(),
  });
  clientRes.end(tx.method === 'HEAD' ? undefined : body);
  return 'done';
}

/** Origin-form requests (or absolute ones naming our own listener): help page or 404. */
export function selfPage(tx: Tx, path: string): Step {
  const { clientRes } = tx;
  const found = path === '/' || path === '/help';
  const body = found ? HELP_PAGE : `404 not_found: ${path} is not a page of this proxy; send absolute-form requests (GET http://host/path)\n`;
  tx.log.error = found ? undefined : 'not_found';
  clientRes.writeHead(found ? 200 : 404, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  clientRes.end(tx.method === 'HEAD' ? undefined : body);
  return 'done';
}

/**
 * RFC 9110 §7.6.2: an OPTIONS with Max-Forwards: 0 is not forwarded; the proxy answers it as the
 * final recipient, with the methods it handles and no content (§9.3.7: Content-Length: 0).
 */
export function answerAsFinalRecipient(tx: Tx): Step {
  tx.log.detail = 'max-forwards';
  tx.clientRes.writeHead(200, { allow: ALLOWED_METHODS, 'content-length': 0 });
  tx.clientRes.end();
  return 'done';
}
