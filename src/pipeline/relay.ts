// Stream the origin's response to the client unchanged apart from hop-by-hop fields, Via and
// Cache-Status. Nothing is stored; waiting followers are released to forward on their own.
import { relayHeaders } from '../http/forward-headers.js';
import { streamTo } from './body.js';
import type { Step } from './step.js';
import { settleFill, type Tx } from './transaction.js';

// Synchronous when the whole body came with the head (no fill lock to release, nothing to wait for).
export function relay(tx: Tx): Step | Promise<Step> {
  // Released here, so finish has no fill left to settle.
  const settling = settleFill(tx, 'not-stored');
  return settling ? settling.then(() => relayNow(tx)) : relayNow(tx);
}

function relayNow(tx: Tx): Step | Promise<Step> {
  const { clientRes } = tx;
  const originRes = tx.originRes!;
  clientRes.writeHead(originRes.statusCode ?? 502, originRes.statusMessage, relayHeaders(originRes, tx.status.toString()));
  const streaming = streamTo(originRes, clientRes, tx.target!.host);
  return streaming ? streaming.then(() => 'done') : 'done';
}
