// Pages the proxy answers as the final recipient, chosen by recv: its help page (or a 404) for
// requests addressed to its own port, and OPTIONS with Max-Forwards: 0.
import { ALLOWED_METHODS } from '../server/early-answers.js';
import type { Step } from './step.js';
import type { Tx } from './transaction.js';

export const HELP_PAGE = `etag-proxy: a forward caching HTTP proxy.

Point your client at this address as its HTTP proxy, for example:
  curl -x http://HOST:PORT http://example.com/
  HTTP_PROXY=http://HOST:PORT your-scraper

Every response carries a Cache-Status header saying what the cache did.
`;

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
