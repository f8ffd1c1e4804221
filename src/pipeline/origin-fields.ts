// Which client fields stay behind when a request goes to the origin, per kind of forward: sets
// built once per identity-header list (it is fixed for a proxy's life), not per request.
import { droppedFields } from '../http/forward-headers.js';
import { CLIENT_CONDITIONAL_FIELDS } from '../policy/conditional-fields.js';
import type { Tx } from './transaction.js';

interface DropSets {
  /** Identity fields only (unsafe methods keep If-Match and the like; Upgrade). */
  identity: ReadonlySet<string>;
  /** Identity fields and the client's conditionals (fetch, revalidate, pass with a plan). */
  conditionals: ReadonlySet<string>;
}

const memo = new WeakMap<readonly string[], DropSets>();

export function originDrops(tx: Pick<Tx, 'ctx'>): DropSets {
  const identity = tx.ctx.policies.identityHeaders;
  let sets = memo.get(identity);
  if (!sets) {
    // The parents' session header is the proxy's too (parents/session.ts): it never goes upstream.
    const parents = tx.ctx.config.parents;
    const own = parents.pools.length ? [...identity, parents.sessionHeader] : identity;
    sets = { identity: droppedFields(own), conditionals: droppedFields(CLIENT_CONDITIONAL_FIELDS, own) };
    memo.set(identity, sets);
  }
  return sets;
}
