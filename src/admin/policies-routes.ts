// GET / PUT / DELETE /policies…: read and change the live rules. Reads show what this process
// applies; changes are validated first (400 names the key, nothing saved), built on the store's
// current rules, saved through the RuleStore (which tells the fleet) and applied here at once.
// A store that cannot be read or written is a 503 and leaves the rules unchanged.
import { ProxyError } from '../errors.js';
import { parsePolicies, parseRuleSettings } from '../config/schema.js';
import type { Proxy } from '../index.js';
import type { Logger } from '../observe/log.js';
import { RuleMatcher, type ClientRule, type PolicyRules, type RuleSettings } from '../policy/rules.js';
import type { StoredPolicies } from '../policy/stored-rules.js';
import type { AdminReply, AdminRequest, AdminRoute } from './admin-route.js';
import { serialised } from './change-queue.js';
import { currentDocument, unavailable, validated } from './rule-document.js';

type RuleList = 'clients' | 'hosts';
const KIND: Record<RuleList, string> = { clients: 'client', hosts: 'host' };

const ok = (body: unknown, status = 200): AdminReply => ({ status, body });

function notFound(list: RuleList | 'default', match?: string): ProxyError {
  const what = list === 'default' ? 'no default rule is set' : `no ${KIND[list]} rule ${JSON.stringify(match)}`;
  return new ProxyError(404, 'not_found', what);
}

const hasSettings = (settings: RuleSettings): boolean =>
  settings.validators !== undefined || settings.requestCacheControl !== undefined || settings.offline !== undefined;

export function createPolicyRoutes(proxy: Proxy, logger: Logger): AdminRoute[] {
  const engine = proxy.policies;
  const store = proxy.ctx.backend.rules;

  const current = (): Promise<StoredPolicies> => currentDocument(proxy, logger);

  /** Read the fleet's rules, edit a copy, check it compiles, save it, apply it here. */
  function change(edit: (rules: PolicyRules) => AdminReply, what: string): Promise<AdminReply> {
    // Changes from this process run one at a time (shared with /rules: one document).
    return serialised(engine, async () => {
      const base = await current();
      const rules = structuredClone(base.rules);
      const reply = edit(rules);
      validated(() => new RuleMatcher(rules, engine.flags));
      try {
        await store.save({ ...base, rules });
      } catch (error) {
        unavailable(error);
      }
      // The store also announces the change, but this process must not wait for the echo.
      engine.apply(rules, base.seed);
      logger.info('policies changed through the admin API', { change: what, clients: rules.clients.length, hosts: rules.hosts.length });
      return reply;
    });
  }

  const listOf = (req: AdminRequest): RuleList => req.params[0] as RuleList;

  return [
    {
      pattern: /^\/policies$/,
      methods: {
        GET: async () => ok({ policies: engine.rules, flags: engine.flags }),
        PUT: async (req) => {
          const body = await req.json();
          const next = validated(() => parsePolicies('body', body));
          return change((rules) => {
            Object.assign(rules, next);
            return ok({ policies: next, flags: engine.flags });
          }, 'replace all');
        },
      },
    },
    {
      pattern: /^\/policies\/resolve$/,
      methods: {
        GET: async (req) => {
          const client = req.query.get('client');
          if (!client) throw new ProxyError(400, 'bad_request', 'query.client: expected a client id, got nothing');
          const host = req.query.get('host') ?? '';
          return ok({ client, host, ...engine.resolve(client, host) });
        },
      },
    },
    {
      pattern: /^\/policies\/default$/,
      methods: {
        GET: async () => ok(engine.rules.default),
        PUT: async (req) => {
          const body = await req.json();
          const settings = validated(() => parseRuleSettings('body', body));
          return change((rules) => {
            rules.default = settings;
            return ok(settings);
          }, 'default');
        },
        DELETE: async () =>
          change((rules) => {
            if (!hasSettings(rules.default)) throw notFound('default');
            const deleted = rules.default;
            rules.default = {};
            return ok({ deleted });
          }, 'delete default'),
      },
    },
    {
      pattern: /^\/policies\/(clients|hosts)$/,
      methods: {
        GET: async (req) => ok(engine.rules[listOf(req)]),
      },
    },
    {
      pattern: /^\/policies\/(clients|hosts)\/(.+)$/,
      methods: {
        GET: async (req) => {
          const match = req.params[1]!;
          const rule = engine.rules[listOf(req)].find((r) => r.match === match);
          if (!rule) throw notFound(listOf(req), match);
          return ok(rule);
        },
        PUT: async (req) => {
          const list = listOf(req);
          const match = req.params[1]!;
          const body = await req.json();
          const settings = validated(() => parseRuleSettings('body', body));
          const rule: ClientRule = { match, ...settings };
          return change((rules) => {
            const index = rules[list].findIndex((r) => r.match === match);
            // Replaced in place: the order of globs is their precedence (rules.ts).
            if (index < 0) rules[list].push(rule);
            else rules[list] = rules[list].flatMap((r, i) => (i === index ? [rule] : r.match === match ? [] : [r]));
            return ok(rule, index < 0 ? 201 : 200);
          }, `${KIND[list]} ${match}`);
        },
        DELETE: async (req) => {
          const list = listOf(req);
          const match = req.params[1]!;
          return change((rules) => {
            const deleted = rules[list].find((r) => r.match === match);
            if (!deleted) throw notFound(list, match);
            rules[list] = rules[list].filter((r) => r.match !== match);
            return ok({ deleted });
          }, `delete ${KIND[list]} ${match}`);
        },
      },
    },
  ];
}
