// Fetch for a miss. The origin request carries the client's validators only when the policy
// says they may be forwarded with no entry (pass); a 304 then goes to the client as is.
import { DETAIL } from '../cache/cache-status.js';
import { forwardHeaders } from '../http/forward-headers.js';
import { upstreamError, type OriginResponse } from '../http/upstream.js';
import { forwardedConditionalFields } from '../policy/conditional-fields.js';
import { interimRelay } from './interim.js';
import { originDrops } from './origin-fields.js';
import { decideStorage } from './storage-decision.js';
import type { Step } from './step.js';
import type { Tx } from './transaction.js';
import { routeKeyOf } from '../parents/request-key.js';

// A promise chain rather than an async function: one promise fewer per request.
export function fetch(tx: Tx): Promise<Step> {
  const { ctx, clientReq } = tx;
  const target = tx.target!;
  tx.status.fwd('uri-miss');
  const headers = forwardHeaders(clientReq, target, originDrops(ctx, 'miss'), forwardedConditionalFields(tx.conditionals));
  const failed = (error: unknown): never => {
    throw upstreamError(error, target.host);
  };
  let answer: Promise<OriginResponse>;
  try {
    answer = ctx.upstream.request({ url: target, origin: tx.origin, method: tx.method === 'HEAD' ? 'HEAD' : 'GET', headers, onInterim: interimRelay(tx), client: tx.client?.verified, routeKey: routeKeyOf(ctx, clientReq, tx.client?.id) });
  } catch (error) {
    return Promise.reject(upstreamError(error, target.host));
  }
  return answer.then((originRes) => answered(tx, originRes), failed);
}

/** The origin's head is in: relay it, or store it on the way. */
function answered(tx: Tx, originRes: OriginResponse): Step {
  tx.originRes = originRes;
  const status = originRes.statusCode ?? 502;
  tx.status.fwdStatus(status);
  if (tx.method === 'HEAD' || status === 304 || tx.storeDown) return 'relay';
  const decision = decideStorage(tx);
  if (decision !== 'store') {
    tx.status.detail(decision === 'too-large' ? DETAIL.tooLarge : decision);
    return 'relay';
  }
  return 'store';
}
