// Revalidate a stale entry upstream with *its* validators (never the client's): the origin
// request is built from the client's request with its validators removed, then the entry's
// ETag / Last-Modified added (STYLE.md trap 1; Varnish's F filter + vbf_stp_mkbereq). A
// background transaction (stale-while-revalidate) starts here; one per key, as the fill lock
// admits one leader: a background follower has nobody to answer and ends.
import type { OutgoingHttpHeaders } from 'node:http';
import { fillKey } from '../cache/keys.js';
import { ProxyError } from '../errors.js';
import { forwardHeaders } from '../http/forward-headers.js';
import { upstreamError } from '../http/upstream.js';
import { interimRelay } from './interim.js';
import { originDrops } from './origin-fields.js';
import { decideStorage } from './storage-decision.js';
import type { Step } from './step.js';
import type { Tx } from './transaction.js';
import { routeKeyOf } from '../parents/request-key.js';

/** The origin request's fields for a revalidation, and whether we added validators. */
function revalidationHeaders(tx: Tx): { headers: OutgoingHttpHeaders; sentValidators: boolean } {
  const set: Record<string, string> = {};
  const { etag, lastModified } = tx.entry!.meta;
  if (etag) set['if-none-match'] = etag;
  if (lastModified) set['if-modified-since'] = lastModified;
  const headers = forwardHeaders(tx.clientReq, tx.target!, originDrops(tx.ctx, 'revalidation'), set);
  return { headers, sentValidators: !!(etag || lastModified) };
}

export async function revalidate(tx: Tx): Promise<Step> {
  const { ctx } = tx;
  if (tx.waitedSince === undefined && !tx.storeDown) {
    const waitedSince = ctx.now();
    const joined = ctx.collapser.join(fillKey(tx.urlKey!, tx.address!.variant));
    const ticket = joined instanceof Promise ? await joined : joined; // the memory store's lock: at once
    if (ticket.role === 'follower') {
      if (tx.background) return 'done';
      tx.waitedSince = waitedSince;
      tx.status.collapsed();
      return 'lookup';
    }
    tx.fill = ticket;
  }
  tx.status.fwd(tx.forwardReason ?? 'stale');
  const { headers, sentValidators } = revalidationHeaders(tx);
  tx.sentValidators = sentValidators;
  try {
    tx.originRes = await ctx.upstream.request({ url: tx.target!, origin: tx.origin, method: 'GET', headers, onInterim: interimRelay(tx), client: tx.client?.verified, routeKey: routeKeyOf(ctx, tx.clientReq, tx.client?.id) });
  } catch (error) {
    tx.error = upstreamError(error, tx.target!.host);
    return 'backendError';
  }
  const status = tx.originRes.statusCode ?? 502;
  tx.status.fwdStatus(status);
  if (status === 304) {
    if (tx.sentValidators) return 'refresh';
    // RFC 9110 §15.4.5: a 304 answers a conditional request. We sent none (the entry has no
    // validators, the client's never go upstream here), so no client may be handed this one.
    tx.originRes.resume();
    throw new ProxyError(502, 'upstream_bad_response', `the origin answered 304 to a request without validators: ${tx.target!.host}`);
  }
  if (status >= 500) return 'backendError';
  if (decideStorage(tx) === 'store') return 'store';
  // RFC 9111 §4.4 spirit: a response that replaces the entry but may not be stored removes it.
  await ctx.backend.entries.invalidate(tx.urlKey!).catch(() => {});
  return 'relay';
}
