// The end of every request: count it, release a fill lock still held, and write its access-log
// line (observe/access-log.ts).
import { recordChange } from '../observe/changes.js';
import { writeAccessLog } from '../observe/access-log.js';
import type { Tx } from './transaction.js';

export function finish(tx: Tx): void | Promise<void> {
  tx.ctx.metrics.requestFinished(tx);
  if (tx.storedEntry || tx.sentValidators) recordChange(tx);
  // Still held: the request failed before its fill settled; followers look for themselves.
  if (tx.fill) return tx.fill.finish('unknown').then(() => writeAccessLog(tx), () => writeAccessLog(tx));
  writeAccessLog(tx);
}
