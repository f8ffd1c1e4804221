// Forward a request the cache does not answer (unsafe methods, Authorization, Range, no-store):
// body streamed both ways. On GET/HEAD the policy's validator plan still applies; unsafe
// methods keep If-Match / If-Unmodified-Since untouched. A non-error response to an unsafe
// method invalidates the target and same-origin Location / Content-Location (RFC 9111 §4.4).
import { invalidationKeys, shouldInvalidate } from '../cache/invalidate.js';
import { forwardHeaders } from '../http/forward-headers.js';
import { upstreamError } from '../http/upstream.js';
import { CLIENT_CONDITIONAL_FIELDS, forwardedConditionalFields } from '../policy/conditional-fields.js';
import type { Step } from './steps.js';
import type { Tx } from './transaction.js';

function passHeaders(tx: Tx) {
  const { clientReq, ctx } = tx;
  const plan = tx.conditionals;
  if (!plan) return forwardHeaders(clientReq, tx.target!, ctx.policies.identityHeaders);
  return forwardHeaders(clientReq, tx.target!, [...CLIENT_CONDITIONAL_FIELDS, ...ctx.policies.identityHeaders], forwardedConditionalFields(plan));
}

export async function pass(tx: Tx): Promise<Step> {
  const { ctx, clientReq } = tx;
  const target = tx.target!;
  const hasBody = !['GET', 'HEAD'].includes(tx.method) || clientReq.headers['content-length'] !== undefined || clientReq.headers['transfer-encoding'] !== undefined;
  try {
    tx.originRes = await ctx.upstream.request({ url: target, method: tx.method, headers: passHeaders(tx) }, hasBody ? clientReq : undefined);
  } catch (error) {
    throw upstreamError(error, target.host);
  }
  const status = tx.originRes.statusCode ?? 502;
  tx.status.fwdStatus(status);
  if (shouldInvalidate(tx.method, status)) {
    const keys = invalidationKeys(target, tx.originRes.headers);
    await Promise.all(keys.map((key) => ctx.backend.entries.invalidate(key))).catch(() => {});
    tx.log.invalidated = keys.length;
  }
  return 'relay';
}
