// Nothing usable is stored: collapse concurrent misses so one request goes upstream. The
// leader fetches; followers wait, then look again (or forward if the leader could not store).
import { DETAIL } from '../cache/cache-status.js';
import type { FillTicket } from '../cache/collapse.js';
import { fillKey } from '../cache/keys.js';
import type { Step } from './step.js';
import type { Tx } from './transaction.js';

// Synchronous when the collapser answers at once (a URL whose last fill stored nothing).
export function miss(tx: Tx): Step | Promise<Step> {
  if (tx.method === 'HEAD') {
    // A HEAD response has no body to store: forward it as HEAD.
    tx.status.detail(DETAIL.headMiss);
    return 'fetch';
  }
  if (tx.storeDown || tx.waitedSince !== undefined) return 'fetch';

  const waitedSince = tx.ctx.now();
  const ticket = tx.ctx.collapser.join(fillKey(tx.urlKey!, null));
  if (ticket instanceof Promise) return ticket.then((settled) => joined(tx, settled, waitedSince));
  return joined(tx, ticket, waitedSince);
}

function joined(tx: Tx, ticket: FillTicket, waitedSince: number): Step {
  if (ticket.role === 'leader') {
    tx.fill = ticket;
    return 'fetch';
  }
  tx.waitedSince = waitedSince;
  tx.status.collapsed();
  return ticket.outcome === 'not-stored' ? 'fetch' : 'lookup';
}
