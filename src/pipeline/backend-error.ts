// The origin failed (no answer, or a 5xx) while we held an entry: RFC 5861 stale-if-error may
// answer from it; otherwise the origin's own 5xx is relayed, or a 502/504 is made up.
import { DETAIL } from '../cache/cache-status.js';
import type { Step } from './steps.js';
import type { Tx } from './transaction.js';

export async function backendError(tx: Tx): Promise<Step> {
  const { ctx } = tx;
  if (tx.entry && ctx.semantics.mayServeStaleOnError(tx.entryPolicy!)) {
    tx.originRes?.resume();
    tx.status.detail(DETAIL.staleIfError);
    tx.log.error = tx.error?.code ?? `origin_${tx.originRes?.statusCode}`;
    tx.error = undefined;
    await tx.fill?.finish('unknown');
    return 'deliver';
  }
  if (tx.originRes) return 'relay';
  return 'synth';
}
