// The end of every request: count it, release a fill lock still held, and write the one log line.
import { recordChange } from '../observe/changes.js';
import { redactUrl } from '../observe/redact.js';
import type { Tx } from './transaction.js';

export function finish(tx: Tx): void | Promise<void> {
  tx.ctx.metrics.requestFinished(tx);
  if (tx.storedEntry || tx.sentValidators) recordChange(tx);
  // Still held: the request failed before its fill settled; followers look for themselves.
  if (tx.fill) return tx.fill.finish('unknown').then(() => log(tx), () => log(tx));
  log(tx);
}

function log(tx: Tx): void {
  const { ctx, clientRes } = tx;
  if (!ctx.logger.enabled(tx.log.error ? 'warn' : 'info')) return;
  const details = tx.log;
  const fields = {
    method: tx.method,
    url: redactUrl(tx.target?.href ?? tx.clientReq.url ?? ''),
    status: clientRes.headersSent ? clientRes.statusCode : null,
    client: tx.client?.id,
    policy: tx.policy?.validators,
    cache: tx.status.toString(),
    ms: ctx.now() - tx.startedAt,
    ...details,
  };
  if (tx.log.error) ctx.logger.warn('request', fields);
  else ctx.logger.info('request', fields);
}
