// Read the store (with its deadline), pick the variant the request selects, and judge how the
// entry may be used. A store failure is a miss that skips the store on the way out.
import { DETAIL } from '../cache/cache-status.js';
import { cookieBinding, variantId } from '../cache/keys.js';
import { ProxyError, StoreUnavailable } from '../errors.js';
import { holdEntry } from './entry-hold.js';
import { markOverride } from './storage-decision.js';
import { offlineError } from './offline.js';
import { requestDirectives } from './request-facts.js';
import type { Step } from './step.js';
import type { Found } from '../store/types.js';
import type { Tx } from './transaction.js';


// Synchronous when the store answers synchronously (memory): a hit then never waits for a microtask.
export function lookup(tx: Tx): Step | Promise<Step> {
  const { clientReq } = tx;
  let found: Found | undefined | Promise<Found | undefined>;
  try {
    found = tx.ctx.backend.entries.lookup(tx.urlKey!, (vary) => variantId(vary, clientReq.headers, tx.client?.verified));
  } catch (error) {
    return storeFailed(tx, error);
  }
  if (found instanceof Promise) return found.then((answer) => judge(tx, answer), (error: unknown) => storeFailed(tx, error));
  return judge(tx, found);
}

/** A store failure is a miss that skips the store on the way out; anything else is a bug. */
function storeFailed(tx: Tx, error: unknown): Step {
  if (!(error instanceof StoreUnavailable)) throw error;
  tx.storeDown = true;
  tx.status.detail(DETAIL.storeUnavailable);
  return goUpstream(tx, 'miss');
}

/** RFC 9111 §5.2.1.7: only-if-cached forbids going upstream; the answer is then a 504. */
function goUpstream(tx: Tx, step: 'miss' | 'revalidate'): Step {
  if (tx.offline) throw offlineError(tx);
  if (tx.onlyIfCached) throw new ProxyError(504, 'not_cached', 'only-if-cached: nothing stored can answer this request without the origin');
  if (tx.conditionals?.range) {
    // Ranges are cut from a fresh complete entry only; otherwise the Range goes to the origin
    // as sent and nothing is stored (we keep no partial content).
    tx.status.fwd('bypass').detail(DETAIL.range);
    return 'pass';
  }
  return step;
}

function judge(tx: Tx, found: Found | undefined): Step {
  const { ctx } = tx;
  if (!found) return goUpstream(tx, 'miss');

  const { boundTo } = found.entry.meta;
  // An entry made for other cookies (or for none, when this request has some) is, for this
  // request, as if nothing were stored: it goes upstream and its answer replaces the entry.
  if (boundTo !== undefined && boundTo !== cookieBinding(tx.clientReq.headers['cookie'])) return goUpstream(tx, 'miss');

  tx.entry = found.entry;
  holdEntry(tx, found.entry);
  tx.address = found.address;
  if (found.entry.meta.ruleOverride) markOverride(tx);
  tx.entryPolicy = ctx.semantics.policyOf(found.entry.meta);
  if (tx.clientReq.headers['authorization'] !== undefined && !ctx.semantics.reusableWithAuthorization(tx.entryPolicy)) {
    // RFC 9111 §3.5 spirit: what the origin did not mark shareable is not handed to a request
    // that carries credentials (it may deserve its own answer); it goes to the origin as is.
    tx.status.fwd('bypass').detail(DETAIL.authorization);
    return 'pass';
  }

  if (tx.offline) {
    // Offline: whatever is stored answers, fresh or stale; nothing goes to the origin.
    tx.status.hit().detail(DETAIL.offline);
    return 'deliver';
  }

  // A follower whose leader just stored or validated this entry uses it as validated for it.
  if (tx.waitedSince !== undefined && found.entry.meta.storedAt >= tx.waitedSince && !ctx.semantics.needsOwnCredentials(tx.entryPolicy)) {
    tx.status.hit();
    return 'deliver';
  }
  tx.usability = ctx.semantics.usability(tx.entryPolicy, requestDirectives(tx));
  switch (tx.usability) {
    case 'fresh':
      tx.status.hit();
      return 'deliver';
    case 'stale-while-revalidate':
      tx.status.hit().detail(DETAIL.staleWhileRevalidate);
      // RFC 5861 §3: refreshed once the client has its answer, by a background transaction (run.ts).
      tx.refreshInBackground = true;
      return 'deliver';
    case 'revalidate':
      tx.forwardReason = ctx.semantics.stale(tx.entryPolicy) ? 'stale' : 'request';
      return goUpstream(tx, 'revalidate');
  }
}
