// GET / PUT / DELETE /rules…: read and change the live URL rules for crawls, the same shape as
// /policies (policies-routes.ts): changes are validated first (400 names the key, nothing
// saved), built on the store's current document, saved through the RuleStore (which tells the
// fleet) and applied here at once; a store that cannot be read or written is a 503.
// GET /rules/resolve?url=…&client=… explains which rules apply to a URL and what they change.
import { ProxyError } from '../errors.js';
import { parseCrawlRule, parseCrawlRules } from '../config/rules-schema.js';
import { normalisedQuery } from '../cache/keys.js';
import type { Proxy } from '../index.js';
import type { Logger } from '../observe/log.js';
import { queryRuleFor } from '../pipeline/cache-key.js';
import { describeMatch, type CrawlRule } from '../policy/crawl-rules.js';
import type { StoredPolicies } from '../policy/stored-rules.js';
import type { AdminReply, AdminRoute } from './admin-route.js';
import { queryUrl } from './query-url.js';
import { serialised } from './change-queue.js';
import { currentDocument, unavailable, validated } from './rule-document.js';

const ok = (body: unknown, status = 200): AdminReply => ({ status, body });

/** The explanation GET /rules/resolve answers and `etag-proxy rules explain` prints. */
export function explainUrl(proxy: Proxy, target: URL, client: string | undefined): Record<string, unknown> {
  const { ctx } = proxy;
  const engine = proxy.policies;
  const resolved = engine.crawlRule(target);
  const policy = client === undefined ? undefined : engine.resolve(client, target.hostname);
  const rules = engine.crawlRules;
  const queryRule = queryRuleFor(ctx, target, resolved);
  const offline = resolved.settings.offline ?? policy?.offline ?? ctx.config.offline;
  const offlineFrom = resolved.from.offline ?? (policy?.offline ? `policies (${policy.rule})` : ctx.config.offline ? '--offline' : 'default');
  return {
    url: target.href,
    ...(client !== undefined && { client }),
    matched: resolved.matched.map((name) => `${name}: ${describeMatch(rules[Number(name.slice(6, -1))]!.match)}`),
    settings: resolved.settings,
    from: resolved.from,
    offline,
    offlineFrom,
    record: resolved.settings.record ?? ctx.config.record,
    store: resolved.settings.store !== false,
    maxObjectSize: resolved.settings.maxObjectSize ?? ctx.config.maxObjectSizeBytes,
    // What the cache key keeps of the query (the origin still receives the URL as sent).
    keyQuery: queryRule ? normalisedQuery(target.search, queryRule) : target.search,
    ...(policy && { policy }),
  };
}

export function createRuleRoutes(proxy: Proxy, logger: Logger): AdminRoute[] {
  const engine = proxy.policies;
  const store = proxy.ctx.backend.rules;

  const current = (): Promise<StoredPolicies> => currentDocument(proxy, logger);

  /** Read the fleet's document, edit a copy of its URL rules, check them, save, apply here. */
  function change(edit: (urlRules: CrawlRule[]) => AdminReply, what: string): Promise<AdminReply> {
    return serialised(engine, async () => {
      const base = await current();
      const urlRules = structuredClone(base.urlRules ?? []);
      const reply = edit(urlRules);
      validated(() => parseCrawlRules('rules', urlRules));
      try {
        await store.save({ ...base, urlRules });
      } catch (error) {
        unavailable(error);
      }
      engine.applyUrlRules(urlRules);
      logger.info('URL rules changed through the admin API', { change: what, rules: urlRules.length });
      return reply;
    });
  }

  const indexOf = (text: string, length: number, allowEnd: boolean): number => {
    const index = Number(text);
    if (index > length || (!allowEnd && index === length)) throw new ProxyError(404, 'not_found', `no rule ${index} (there are ${length})`);
    return index;
  };

  return [
    {
      pattern: /^\/rules$/,
      methods: {
        GET: async () => ok({ rules: engine.crawlRules }),
        PUT: async (req) => {
          const body = await req.json();
          const next = validated(() => parseCrawlRules('body', body));
          return change((urlRules) => {
            urlRules.splice(0, urlRules.length, ...next);
            return ok({ rules: next });
          }, 'replace all');
        },
        DELETE: async () =>
          change((urlRules) => {
            const deleted = urlRules.splice(0);
            return ok({ deleted });
          }, 'delete all'),
      },
    },
    {
      pattern: /^\/rules\/resolve$/,
      methods: {
        GET: async (req) => {
          const target = queryUrl(req.query);
          return ok(explainUrl(proxy, target, req.query.get('client') ?? undefined));
        },
      },
    },
    {
      pattern: /^\/rules\/(\d+)$/,
      methods: {
        GET: async (req) => {
          const index = indexOf(req.params[0]!, engine.crawlRules.length, false);
          return ok(engine.crawlRules[index]);
        },
        PUT: async (req) => {
          const body = await req.json();
          const rule = validated(() => parseCrawlRule('body', body));
          return change((urlRules) => {
            const index = indexOf(req.params[0]!, urlRules.length, true);
            const created = index === urlRules.length;
            urlRules[index] = rule;
            return ok(rule, created ? 201 : 200);
          }, `rule ${req.params[0]}`);
        },
        DELETE: async (req) =>
          change((urlRules) => {
            const index = indexOf(req.params[0]!, urlRules.length, false);
            const [deleted] = urlRules.splice(index, 1);
            return ok({ deleted });
          }, `delete rule ${req.params[0]}`),
      },
    },
  ];
}
