// Nothing usable is stored: collapse concurrent misses so one request goes upstream. The
// leader fetches; followers wait, then look again (or forward if the leader could not store).
import { DETAIL } from '../cache/cache-status.js';
import { fillKey } from '../cache/keys.js';
import type { Step } from './step.js';
import type { Tx } from './transaction.js';

export async function miss(tx: Tx): Promise<Step> {
  if (tx.method === 'HEAD') {
    // A HEAD response has no body to store: forward it as HEAD.
    tx.status.detail(DETAIL.headMiss);
    return 'fetch';
  }
  if (tx.storeDown || tx.waitedSince !== undefined) return 'fetch';

  const waitedSince = tx.ctx.now();
  const joined = tx.ctx.collapser.join(fillKey(tx.urlKey!, null));
  const ticket = joined instanceof Promise ? await joined : joined; // the memory store's lock: at once
  if (ticket.role === 'leader') {
    tx.fill = ticket;
    return 'fetch';
  }
  tx.waitedSince = waitedSince;
  tx.status.collapsed();
  return ticket.outcome === 'not-stored' ? 'fetch' : 'lookup';
}
