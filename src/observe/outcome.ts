// How one request was answered, as the metrics count it: a pure reading of the Cache-Status
// story the steps built (cache/cache-status.ts) and of the error the request ended with.
// Decided once per request, in finish; the steps never count anything themselves.
import { DETAIL, type CacheStatus } from '../cache/cache-status.js';
import type { Outcome } from './counters.js';

export interface OutcomeFacts {
  status: CacheStatus;
  /** The request ended in a proxy-made answer or a cut transfer (tx.error / tx.log.error). */
  failed: boolean;
  method: string;
  /** The status the client was answered with (undefined: none was sent). */
  answered?: number | undefined;
}

/** Stale answers (RFC 5861, RFC 9111 §4.2.4) win over the failure that caused them. */
export function outcomeOf({ status, failed, method, answered }: OutcomeFacts): Outcome {
  if (status.hasDetail(DETAIL.staleIfError) || status.hasDetail(DETAIL.staleIfDisconnected) || status.hasDetail(DETAIL.staleWhileRevalidate)) {
    return 'stale';
  }
  if (failed) return 'error';
  if (method === 'PURGE' && status.forwardReason === undefined) return 'bypass'; // answered by purge, the cache unused
  const reason = status.forwardReason;
  if (reason === undefined) {
    if (status.isHit) return status.isCollapsed ? 'collapsed' : 'hit';
    // Answered before any cache decision: the help page (`GET /` on the proxy port) is a
    // success that did not use the cache; any other proxy-made page is an error.
    return answered !== undefined && answered < 400 ? 'bypass' : 'error';
  }
  if (reason === 'request' && status.hasDetail(DETAIL.requestNoStore)) return 'bypass'; // never looked up
  if (reason === 'stale' || reason === 'request') {
    const upstream = status.forwardStatus;
    if (upstream === 304) return 'revalidated-304';
    return upstream !== undefined && upstream >= 500 ? 'error' : 'revalidated-200';
  }
  if (reason === 'bypass' || reason === 'method') return 'bypass';
  return 'miss';
}

/** Served from a stored entry: the origin sent no body for this answer. */
export function servedFromCache(outcome: Outcome): boolean {
  return outcome === 'hit' || outcome === 'collapsed' || outcome === 'stale' || outcome === 'revalidated-304';
}
