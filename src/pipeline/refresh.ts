// The origin answered our conditional with 304: fold its fields into the entry (metadata only)
// and answer the client from the refreshed entry — a full 200 unless its own validators match.
import { unstoredLines } from '../cache/entry.js';
import { refreshEntry, type Refreshed } from './entry-writes.js';
import { semanticsRequest } from './request-facts.js';
import type { Step } from './step.js';
import { settleFill, type Tx } from './transaction.js';

// Synchronous with the memory store (its write and its fill lock answer at once): the refreshed
// entry is then delivered without waiting for a promise.
export function refresh(tx: Tx): Step | Promise<Step> {
  const { ctx } = tx;
  tx.originRes!.resume(); // a 304 has no body; free the socket for reuse
  const selecting = { headers: tx.clientReq.headers, clientId: tx.client?.id ?? '' };
  const refreshing = refreshEntry(ctx, tx.address!, tx.entry!, semanticsRequest(tx), tx.originRes!, selecting, tx.rule?.settings, tx.fill?.lock);
  return refreshing instanceof Promise ? refreshing.then((refreshed) => refreshedEntry(tx, refreshed)) : refreshedEntry(tx, refreshing);
}

function refreshedEntry(tx: Tx, refreshed: Refreshed): Step | Promise<Step> {
  // RFC 9111 §3.1 lets a cache leave Set-Cookie out of what it stores; the client whose request
  // the 304 answered still gets it (invariant 2: no other client does).
  const own = unstoredLines(tx.originRes!.headers);
  if (own) tx.ownLines = own;
  tx.entry = refreshed.entry;
  tx.entryPolicy = refreshed.policy;
  // The followers may read the refreshed entry once the lock is free (at once with the memory store).
  const settling = settleFill(tx, 'stored');
  return settling ? settling.then(() => 'deliver') : 'deliver';
}
