// Which client fields stay behind when a request goes to the origin, per path: the table in
// http/upstream-fields.ts, with this deployment's own field names (the identity header, the
// parents' session header) filled in. Sets built once per identity-header list (fixed for a
// proxy's life), not per request.
import { notCopied, type UpstreamPath } from '../http/upstream-fields.js';
import type { ProxyContext } from './context.js';

const proxyOwnMemo = new WeakMap<readonly string[], readonly string[]>();

/** The fields this deployment reads for itself: the identity header(s), and the parents' session header when there are parents (parents/session.ts). */
function proxyOwnFields(ctx: ProxyContext): readonly string[] {
  const identity = ctx.policies.identityHeaders;
  let own = proxyOwnMemo.get(identity);
  if (!own) {
    const parents = ctx.config.parents;
    own = parents.pools.length ? [...identity, parents.sessionHeader] : identity;
    proxyOwnMemo.set(identity, own);
  }
  return own;
}

/** The client fields not copied onto the origin request on `path` (the step sets its own). */
export function originDrops(ctx: ProxyContext, path: UpstreamPath): ReadonlySet<string> {
  return notCopied(path, proxyOwnFields(ctx));
}
