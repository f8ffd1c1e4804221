// The origin failed while we held an entry. Disconnected (refused, reset, timeout, unknown
// host: RFC 9111 §4.2.4) the stale entry answers within --serve-stale-if-disconnected; a 5xx
// or a malformed answer from a reachable origin only within stale-if-error (RFC 5861).
// Otherwise the origin's own 5xx is relayed, or a 502/504 is made up.
import { DETAIL } from '../cache/cache-status.js';
import { ProxyError } from '../errors.js';
import type { Step } from './step.js';
import { settleFill, type Tx } from './transaction.js';

/** Upstream failures that mean "the origin cannot be reached", as opposed to a bad answer. */
const DISCONNECTED: ReadonlySet<string> = new Set([
  'upstream_refused', 'upstream_unknown_host', 'upstream_reset', 'upstream_unreachable', 'upstream_timeout', 'upstream_error',
  // Every parent of the pool failed or was banned (src/parents): the origin could not be asked.
  'parent_pool_down', 'parent_refused', 'parent_auth_failed', 'parent_unreachable', 'parent_timeout', 'parent_banned', 'parent_error',
]);

export async function backendError(tx: Tx): Promise<Step> {
  const { ctx } = tx;
  const disconnected = !tx.originRes && tx.error !== undefined && DISCONNECTED.has(tx.error.code);
  const detail = staleAnswer(tx, disconnected);
  if (detail) {
    tx.originRes?.resume();
    tx.status.detail(detail);
    tx.log.error = tx.error?.code ?? `origin_${tx.originRes?.statusCode}`;
    tx.error = undefined;
    await settleFill(tx, 'unknown');
    return 'deliver';
  }
  if (tx.originRes) return 'relay';
  if (tx.entry && disconnected && ctx.semantics.forbidsStale(tx.entryPolicy!)) {
    // RFC 9111 §5.2.2.2 (and §5.2.2.10 for s-maxage): an entry the cache may not serve stale and
    // cannot validate is answered 504.
    tx.error = new ProxyError(504, 'upstream_unavailable', `cannot revalidate the stored response, and it may not be served stale: ${tx.error!.message}`);
  }
  return 'synth';
}

function staleAnswer(tx: Tx, disconnected: boolean): string | null {
  if (!tx.entry) return null;
  const { semantics, config } = tx.ctx;
  if (disconnected || (tx.originRes?.statusCode ?? 0) >= 500 || tx.error?.code === 'upstream_bad_response') {
    if (semantics.mayServeStaleOnError(tx.entryPolicy!)) return DETAIL.staleIfError;
  }
  if (disconnected && semantics.mayServeStaleIfDisconnected(tx.entryPolicy!, config.serveStaleIfDisconnectedMs)) return DETAIL.staleIfDisconnected;
  return null;
}
