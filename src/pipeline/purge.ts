// PURGE <absolute URL> on the proxy port (--purge, Squid and Varnish style): remove every stored
// variant of the URL. Only --allow'ed clients (loopback ones when there is no --allow list) may;
// with --purge off PURGE is an ordinary unknown method and goes to the origin like any other.
import { ProxyError, StoreUnavailable } from '../errors.js';
import { redactUrl } from '../observe/redact.js';
import type { Step } from './step.js';
import type { Tx } from './transaction.js';

export async function purge(tx: Tx): Promise<Step> {
  const { ctx, clientReq, clientRes } = tx;
  if (!ctx.guard.mayPurge(clientReq.socket)) {
    const address = clientReq.socket.remoteAddress ?? 'unknown';
    throw new ProxyError(403, 'purge_forbidden', `PURGE is allowed only from --allow addresses (loopback without --allow); ${address} is not one`);
  }
  const { entries } = ctx.backend;
  let variants: number | undefined;
  try {
    variants = entries.variants ? (await entries.variants(tx.urlKey!)).length : undefined;
    await entries.invalidate(tx.urlKey!);
  } catch (error) {
    if (!(error instanceof StoreUnavailable)) throw error;
    throw new ProxyError(503, 'store_unavailable', `cannot purge: ${error.message}`);
  }
  tx.log.purged = variants ?? null;
  // Squid's answers: 200 when something was removed, 404 when nothing was stored.
  const found = variants === undefined || variants > 0;
  const body = found ? `purged ${variants ?? 'all'} stored variant(s) of ${redactUrl(tx.target!.href)}\n` : `nothing stored for ${redactUrl(tx.target!.href)}\n`;
  clientRes.writeHead(found ? 200 : 404, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  clientRes.end(body);
  return 'done';
}
