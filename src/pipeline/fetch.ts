// Fetch for a miss. The origin request carries the client's validators only when the policy
// says they may be forwarded with no entry (pass); a 304 then goes to the client as is.
import { DETAIL } from '../cache/cache-status.js';
import { forwardHeaders } from '../http/forward-headers.js';
import { upstreamError } from '../http/upstream.js';
import { forwardedConditionalFields } from '../policy/conditional-fields.js';
import { interimRelay } from './interim.js';
import { originDrops } from './origin-fields.js';
import { decideStorage } from './storage-decision.js';
import type { Step } from './step.js';
import type { Tx } from './transaction.js';
import { routeKeyOf } from '../parents/request-key.js';

export async function fetch(tx: Tx): Promise<Step> {
  const { ctx, clientReq } = tx;
  const target = tx.target!;
  tx.status.fwd('uri-miss');
  const headers = forwardHeaders(clientReq, target, originDrops(ctx, 'miss'), forwardedConditionalFields(tx.conditionals));
  try {
    tx.originRes = await ctx.upstream.request({ url: target, method: tx.method === 'HEAD' ? 'HEAD' : 'GET', headers, onInterim: interimRelay(tx), client: tx.client?.verified, routeKey: routeKeyOf(ctx, clientReq, tx.client?.id) });
  } catch (error) {
    throw upstreamError(error, target.host);
  }
  const status = tx.originRes.statusCode ?? 502;
  tx.status.fwdStatus(status);
  if (tx.method === 'HEAD' || status === 304 || tx.storeDown) return 'relay';
  const decision = decideStorage(tx);
  if (decision !== 'store') {
    tx.status.detail(decision === 'too-large' ? DETAIL.tooLarge : decision);
    return 'relay';
  }
  return 'store';
}
