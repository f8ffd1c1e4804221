// May this origin response be stored? RFC 9111 §3 (through semantics) plus our own limits.
import { policyHeaders } from '../cache/entry.js';
import { semanticsRequest } from './recv.js';
import type { Tx } from './transaction.js';

export type StorageDecision = 'store' | 'too-large' | 'not-storable' | 'vary-star' | 'set-cookie';

export function decideStorage(tx: Tx): StorageDecision {
  const { ctx, originRes } = tx;
  const res = { status: originRes!.statusCode ?? 0, headers: policyHeaders(originRes!.headers), rawHeaders: originRes!.rawHeaders };
  const policy = ctx.semantics.policyFor(semanticsRequest(tx), res);
  const reason = ctx.semantics.unstorableReason(policy, res);
  if (reason) return reason === 'vary-star' || reason === 'set-cookie' ? reason : 'not-storable';
  const length = Number(originRes!.headers['content-length'] ?? NaN);
  if (length > ctx.config.maxObjectSizeBytes) return 'too-large';
  tx.entryPolicy = policy;
  return 'store';
}
