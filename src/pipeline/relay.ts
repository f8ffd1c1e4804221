// Stream the origin's response to the client unchanged apart from hop-by-hop fields, Via and
// Cache-Status. Nothing is stored; waiting followers are released to forward on their own.
import { relayHeaders } from '../http/forward-headers.js';
import { streamTo } from './body.js';
import type { Step } from './step.js';
import type { Tx } from './transaction.js';

export async function relay(tx: Tx): Promise<Step> {
  const { clientRes } = tx;
  const originRes = tx.originRes!;
  if (tx.fill) await tx.fill.finish('not-stored');
  clientRes.writeHead(originRes.statusCode ?? 502, originRes.statusMessage, relayHeaders(originRes, { 'cache-status': tx.status.toString() }));
  await streamTo(originRes, clientRes, tx.target!.host);
  return 'done';
}
