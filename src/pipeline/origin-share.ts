// Whose share of an origin's connections a request to it counts against (http/origin-shares.ts,
// --origin-connections-per-client): see accountableClient in policy/identity.ts.
import { accountableClient } from '../policy/identity.js';
import type { Tx } from './transaction.js';

export function originShare(tx: Tx): string | undefined {
  if (!tx.client) return undefined;
  let passwordsChecked = false;
  for (const _ in tx.ctx.config.identity.users) {
    passwordsChecked = true;
    break;
  }
  return accountableClient(tx.clientReq, tx.client, passwordsChecked);
}
