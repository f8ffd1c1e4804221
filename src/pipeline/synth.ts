// Answers the proxy makes itself: errors (400/407/502/504…) with a short text body, and the
// help page for requests addressed to the proxy's own port. If the response head already
// went out, a status can no longer be sent: the connection is cut instead.
import type { Tx } from './transaction.js';
import type { Step } from './step.js';

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
