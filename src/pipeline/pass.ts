// Forward a request the cache does not answer (unsafe methods, Authorization, Range, no-store):
// body streamed both ways. On GET/HEAD the policy's validator plan still applies; unsafe
// methods keep If-Match / If-Unmodified-Since untouched. A non-error response to an unsafe
// method invalidates the target and same-origin Location / Content-Location (RFC 9111 §4.4).
import { invalidationKeys, shouldInvalidate } from '../cache/invalidate.js';
import { forwardHeaders } from '../http/forward-headers.js';
import { maxForwards } from '../http/max-forwards.js';
import { upstreamError } from '../http/upstream.js';
import { forwardedConditionalFields } from '../policy/conditional-fields.js';
import { keyOf } from './cache-key.js';
import { originDrops } from './origin-fields.js';
import { offlineError } from './offline.js';
import { interimRelay } from './interim.js';
import { hasBody } from './request-facts.js';
import type { Step } from './step.js';
import type { Tx } from './transaction.js';
import { routeKeyOf } from '../parents/request-key.js';

function passHeaders(tx: Tx, framing: Record<string, string>) {
  const { clientReq } = tx;
  const plan = tx.conditionals;
  if (!plan) {
    // RFC 9110 §7.6.2: an OPTIONS goes on with Max-Forwards one less (recv answered a 0 itself).
    const hop = maxForwards(tx.method, clientReq.headers['max-forwards']);
    const set = hop.kind === 'forward' ? { ...framing, 'max-forwards': hop.value } : framing;
    return forwardHeaders(clientReq, tx.target!, originDrops(tx.ctx, 'unsafe'), set);
  }
  return forwardHeaders(clientReq, tx.target!, originDrops(tx.ctx, 'pass'), { ...forwardedConditionalFields(plan), ...framing });
}

/**
 * Invariant 1: the upstream framing describes what we send. node's parser has already framed
 * the client's body (one valid Content-Length, or chunked), and we stream exactly those bytes:
 * the same length, or (no field here) chunked again by the upstream client, which frames a
 * body of unknown length itself. A request without a body gets neither field.
 */
function framingOf(clientReq: Tx['clientReq']): Record<string, string> | null {
  if (!hasBody(clientReq)) return null;
  const length = clientReq.headers['content-length'];
  return clientReq.headers['transfer-encoding'] === undefined && length !== undefined ? { 'content-length': length } : {};
}

export async function pass(tx: Tx): Promise<Step> {
  const { ctx, clientReq } = tx;
  if (tx.offline) throw offlineError(tx);
  const target = tx.target!;
  const framing = framingOf(clientReq);
  try {
    tx.originRes = await ctx.upstream.request(
      { url: target, origin: tx.origin, method: tx.method, headers: passHeaders(tx, framing ?? {}), onInterim: interimRelay(tx), client: tx.client?.verified, routeKey: routeKeyOf(ctx, tx.clientReq, tx.client?.id) },
      framing ? clientReq : undefined,
    );
  } catch (error) {
    throw upstreamError(error, target.host);
  }
  const status = tx.originRes.statusCode ?? 502;
  tx.status.fwdStatus(status);
  if (shouldInvalidate(tx.method, status)) {
    const keys = invalidationKeys(target, tx.originRes.headers, (url) => keyOf(ctx, url, ctx.policies.crawlRule(url)));
    await Promise.all(keys.map((key) => ctx.backend.entries.invalidate(key))).catch(() => {});
    tx.log.invalidated = keys.length;
  }
  return 'relay';
}
