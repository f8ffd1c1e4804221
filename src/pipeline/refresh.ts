// The origin answered our conditional with 304: fold its fields into the entry (metadata only)
// and answer the client from the refreshed entry — a full 200 unless its own validators match.
import { refreshEntry } from './entry-writes.js';
import { semanticsRequest } from './recv.js';
import type { Step } from './steps.js';
import type { Tx } from './transaction.js';

export async function refresh(tx: Tx): Promise<Step> {
  const { ctx } = tx;
  tx.originRes!.resume(); // a 304 has no body; free the socket for reuse
  const refreshed = await refreshEntry(ctx, tx.address!, tx.entry!, semanticsRequest(tx), tx.originRes!, tx.rule?.settings, tx.fill?.lock);
  tx.entry = refreshed.entry;
  tx.entryPolicy = refreshed.policy;
  if (tx.fill) await tx.fill.finish('stored');
  return 'deliver';
}
