// The origin failed (no answer, or a 5xx) while we held an entry: RFC 5861 stale-if-error may
// answer from it; otherwise the origin's own 5xx is relayed, or a 502/504 is made up.
import { DETAIL } from '../cache/cache-status.js';
import { ProxyError } from '../errors.js';
import type { Step } from './steps.js';
import type { Tx } from './transaction.js';

export async function backendError(tx: Tx): Promise<Step> {
  const { ctx } = tx;
  if (tx.entry && ctx.semantics.mayServeStaleOnError(tx.entryPolicy!)) {
    tx.originRes?.resume();
    tx.status.detail(DETAIL.staleIfError);
    tx.log.error = tx.error?.code ?? `origin_${tx.originRes?.statusCode}`;
    tx.error = undefined;
    if (tx.fill) await tx.fill.finish('unknown');
    return 'deliver';
  }
  if (tx.originRes) return 'relay';
  if (tx.entry && ctx.semantics.forbidsStale(tx.entryPolicy!) && tx.error) {
    // RFC 9111 §5.2.2.2: a must-revalidate entry the cache cannot validate gets a 504.
    tx.error = new ProxyError(504, 'upstream_unavailable', `cannot revalidate a must-revalidate entry: ${tx.error.message}`);
  }
  return 'synth';
}
