// GET /parents: the pools, their parents (scheme://host:port, never credentials), which are
// cooling down, the routing rules and the default. GET /parents/explain?url=…&client=…&session=…:
// where a request would go and why (the first matching rule, or the default), as
// `etag-proxy parents explain` prints it.
import type { Proxy } from '../index.js';
import { parseSessionHeader } from '../parents/session.js';
import type { AdminReply, AdminRoute } from './admin-route.js';
import { queryUrl } from './query-url.js';

const ok = (body: unknown): AdminReply => ({ status: 200, body });

/** The pools as configured and as they are now; the counters come with /stats (observe/stats.ts). */
export function describeParents(proxy: Proxy): Record<string, unknown> {
  const router = proxy.ctx.upstream.options.parents;
  const now = proxy.ctx.now();
  if (!router) return { pools: [], routes: [], default: 'direct', neverDirect: false };
  const { config } = router;
  return {
    pools: [...router.pools.values()].map((pool) => ({
      name: pool.name,
      selection: pool.spec.selection,
      ...(pool.spec.usernameTemplate !== undefined && { username: pool.spec.usernameTemplate }),
      newConnectionPerRequest: pool.spec.newConnectionPerRequest,
      cooldownMs: pool.spec.cooldownMs,
      ...(pool.spec.pricePerGB !== undefined && { pricePerGB: pool.spec.pricePerGB }),
      parents: pool.parents.map((parent) => ({
        parent: parent.label,
        weight: parent.spec.weight,
        up: parent.downUntil <= now,
        ...(parent.downUntil > now && { downForMs: parent.downUntil - now }),
      })),
    })),
    routes: config.routes,
    default: config.default,
    neverDirect: config.neverDirect,
    sessionHeader: config.sessionHeader,
  };
}

export function createParentsRoutes(proxy: Proxy): AdminRoute[] {
  return [
    { pattern: /^\/parents$/, methods: { GET: async () => ok(describeParents(proxy)) } },
    {
      pattern: /^\/parents\/explain$/,
      methods: {
        GET: async (req) => {
          const target = queryUrl(req.query);
          const router = proxy.ctx.upstream.options.parents;
          const client = req.query.get('client') ?? undefined;
          if (!router) return ok({ url: target.href, ...(client !== undefined && { client }), pool: 'direct', because: 'no parent proxies are configured' });
          const key = parseSessionHeader('query.session', req.query.get('session') ?? undefined, client);
          return ok(router.explain(target, key));
        },
      },
    },
  ];
}
