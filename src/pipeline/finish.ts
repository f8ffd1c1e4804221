// The end of every request: count it, release a fill lock and the entry still held, and write its access-log
// line (observe/access-log.ts). A background transaction answered no client: it is neither counted
// nor logged as a request (its origin request is, by the upstream meter); a failure is logged once.
import { recordChange } from '../observe/changes.js';
import { writeAccessLog } from '../observe/access-log.js';
import { redactUrl } from '../observe/redact.js';
import { takeSendTimeoutCut } from '../server/send-deadline.js';
import { releaseEntryOnceSent } from './entry-hold.js';
import type { Tx } from './transaction.js';

export function finish(tx: Tx): void | Promise<void> {
  // The send deadline cut this client while the request was still on it: its line says so.
  if (!tx.background && tx.clientRes.destroyed && takeSendTimeoutCut(tx.clientReq.socket)) tx.log.error ??= 'client_send_timeout';
  if (!tx.background) tx.ctx.metrics.requestFinished(tx);
  if (tx.storedEntry || tx.sentValidators) recordChange(tx);
  releaseEntryOnceSent(tx);
  const report = tx.background ? reportBackground : writeAccessLog;
  // Still held: the request failed before its fill settled; followers look for themselves.
  const released = tx.fill?.finish('unknown');
  if (released) return released.then(() => report(tx), () => report(tx));
  report(tx);
}

/** A background revalidation that failed says so once; its client was served already. */
function reportBackground(tx: Tx): void {
  const error = tx.error?.code ?? tx.log.error;
  if (error === undefined) return;
  tx.ctx.logger.warn('background revalidation failed', { url: redactUrl(tx.target!.href), error, detail: tx.error?.message ?? tx.log.detail });
}
