// The end of every request: count it, release a fill lock and the entry still held, and write its access-log
// line (observe/access-log.ts).
import { recordChange } from '../observe/changes.js';
import { writeAccessLog } from '../observe/access-log.js';
import { takeSendTimeoutCut } from '../server/send-deadline.js';
import { releaseEntryOnceSent } from './entry-hold.js';
import type { Tx } from './transaction.js';

export function finish(tx: Tx): void | Promise<void> {
  // The send deadline cut this client while the request was still on it: its line says so.
  if (tx.clientRes.destroyed && takeSendTimeoutCut(tx.clientReq.socket)) tx.log.error ??= 'client_send_timeout';
  tx.ctx.metrics.requestFinished(tx);
  if (tx.storedEntry || tx.sentValidators) recordChange(tx);
  releaseEntryOnceSent(tx);
  // Still held: the request failed before its fill settled; followers look for themselves.
  if (tx.fill) return tx.fill.finish('unknown').then(() => writeAccessLog(tx), () => writeAccessLog(tx));
  writeAccessLog(tx);
}
