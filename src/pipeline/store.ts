// A storable response: stream it to the client and keep a copy; commit the entry at the end
// of the body (never partially), unless it outgrew --max-object-size on the way.
import { DETAIL } from '../cache/cache-status.js';
import { relayHeaders } from '../http/forward-headers.js';
import { teeBody } from './body.js';
import { addressFor, commitEntry } from './entry-writes.js';
import type { Step } from './steps.js';
import type { Tx } from './transaction.js';

export async function store(tx: Tx): Promise<Step> {
  const { ctx, clientRes } = tx;
  const originRes = tx.originRes!;
  // `stored` is announced only when the length is known to fit; chunked bodies may outgrow it.
  if (originRes.headers['content-length'] !== undefined) tx.status.stored();
  tx.status.ttl(ctx.semantics.ttlSeconds(tx.entryPolicy!));
  clientRes.writeHead(originRes.statusCode ?? 200, relayHeaders(originRes, { 'cache-status': tx.status.toString() }));
  const body = await teeBody(originRes, clientRes, ctx.config.maxObjectSizeBytes, tx.target!.host);
  if (!body) {
    tx.status.detail(DETAIL.tooLarge);
    tx.log.detail = DETAIL.tooLarge;
    return 'done';
  }
  const address = addressFor(tx.urlKey!, originRes.headers, tx.clientReq.headers);
  const entry = await commitEntry(ctx, address, originRes, tx.entryPolicy!, body);
  tx.log.stored = !!entry;
  if (entry && tx.policy?.validators === 'isolate') await recordServedTo(tx, entry.meta);
  await tx.fill?.finish(entry ? 'stored' : 'not-stored');
  return 'done';
}

/** isolate: remember which validators this client now holds for this URL. */
export async function recordServedTo(tx: Tx, meta: { etag?: string; lastModified?: string }): Promise<void> {
  const { ctx } = tx;
  const ttl = ctx.config.keepValidatorsMs;
  const writes: Array<Promise<void>> = [];
  if (meta.etag) writes.push(ctx.backend.ledger.recordServed(tx.client!.id, tx.urlKey!, meta.etag, ttl));
  if (meta.lastModified) writes.push(ctx.backend.ledger.recordServed(tx.client!.id, tx.urlKey!, `lm:${meta.lastModified}`, ttl));
  await Promise.all(writes).catch(() => {});
}
