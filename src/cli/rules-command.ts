// `etag-proxy rules list|set|delete|explain`: a thin client of the admin API's /rules
// (admin/rules-routes.ts), like `etag-proxy policy`. The server validates; a non-2xx answer
// prints its reason on stderr and exits 1. A rule is given as JSON or YAML flow text.
import type { Argv, CommandModule } from 'yargs';
import { AdminCommandError, call, formatTable, runAdminCommand, shown, withConnection, type ConnectionArgs } from './admin-client.js';

interface ListArgs extends ConnectionArgs {
  json?: boolean;
}
interface SetArgs extends ConnectionArgs {
  rule?: string;
  at?: number;
}
interface DeleteArgs extends ConnectionArgs {
  index?: number;
}
interface ExplainArgs extends ConnectionArgs {
  url?: string;
  client?: string;
  json?: boolean;
}

interface RuleView {
  match: { host?: string; path?: string; url?: string };
  [setting: string]: unknown;
}

const run = (action: () => Promise<string>) => runAdminCommand('rules', action);

const matchText = (match: RuleView['match']): string =>
  match.url !== undefined ? `url ~ ${match.url}` : `host ${match.host ?? '?'}${match.path === undefined ? '' : ` path ${match.path}`}`;

const settingsText = (rule: Record<string, unknown>): string =>
  Object.entries(rule)
    .filter(([key]) => key !== 'match')
    .map(([key, value]) => `${key}=${Array.isArray(value) ? value.join(',') : String(value)}`)
    .join(' ');

function formatList(rules: RuleView[]): string {
  if (!rules.length) return 'no URL rules (the RFC 9111 defaults apply)';
  const rows = [['#', 'MATCH', 'SETTINGS (ms, bytes)'], ...rules.map((rule, i) => [String(i), matchText(rule.match), settingsText(rule)])];
  return formatTable(rows);
}

const list: CommandModule<object, ListArgs> = {
  command: 'list',
  describe: 'show the URL rules in force, in order (per setting, the first matching rule wins)',
  builder: (y) => withConnection(y).option('json', { type: 'boolean', describe: "print the admin API's JSON" }) as Argv<ListArgs>,
  handler: (args) =>
    run(async () => {
      const view = (await call(args, 'GET', '/rules')) as { rules: RuleView[] };
      return shown(args.json, view, (v) => formatList(v.rules));
    }),
};

const set: CommandModule<object, SetArgs> = {
  command: 'set [rule]',
  describe: 'add a rule at the end, or replace rule N with --at N',
  builder: (y) =>
    withConnection(y)
      .positional('rule', { type: 'string', describe: 'the rule as JSON or YAML flow text' })
      .option('at', { type: 'number', describe: 'replace the rule at this index (0 is the first)' })
      .example(`$0 rules set '{ match: { host: "news.example", path: "/articles/*" }, override: [no-cache], defaultTtl: 10m }'`, '')
      .example(`$0 rules set --at 0 '{ match: { host: "*" }, ignoreQuery: ["utm_*"] }'`, '') as Argv<SetArgs>,
  handler: (args) =>
    run(async () => {
      if (!args.rule) throw new AdminCommandError('give the rule, e.g. \'{ match: { host: "*" }, sortQuery: true }\'');
      let rule: unknown;
      try {
        // Loaded here only: yaml costs ~8 MiB of RSS in every proxy that imports it (config/load.ts).
        const { parse: parseYaml } = await import('yaml');
        rule = parseYaml(args.rule);
      } catch (error) {
        throw new AdminCommandError(`the rule is not JSON or YAML: ${(error as Error).message.split('\n')[0]}`);
      }
      let index = args.at;
      if (index === undefined) index = ((await call(args, 'GET', '/rules')) as { rules: unknown[] }).rules.length;
      if (!Number.isInteger(index) || index < 0) throw new AdminCommandError(`--at: expected a rule index (0, 1, …), got ${String(args.at)}`);
      const saved = (await call(args, 'PUT', `/rules/${index}`, rule)) as RuleView;
      return `rule ${index}: ${matchText(saved.match)} ${settingsText(saved)}`.trimEnd();
    }),
};

const remove: CommandModule<object, DeleteArgs> = {
  command: 'delete [index]',
  describe: 'delete rule N (the rules after it move up)',
  builder: (y) => withConnection(y).positional('index', { type: 'number', describe: 'the rule index, as `rules list` shows it' }) as Argv<DeleteArgs>,
  handler: (args) =>
    run(async () => {
      if (args.index === undefined || !Number.isInteger(args.index) || args.index < 0) throw new AdminCommandError('name the rule index to delete, as `etag-proxy rules list` shows it');
      const reply = (await call(args, 'DELETE', `/rules/${args.index}`)) as { deleted: RuleView };
      return `rule ${args.index}: deleted (${matchText(reply.deleted.match)})`;
    }),
};

interface Explanation {
  url: string;
  client?: string;
  matched: string[];
  settings: Record<string, unknown>;
  from: Record<string, string>;
  offline: boolean;
  offlineFrom: string;
  record: boolean;
  store: boolean;
  keyQuery: string;
  policy?: { validators: string; requestCacheControl: string; rule: string };
}

function formatExplanation(e: Explanation): string {
  const lines = [`url       ${e.url}${e.client ? `  (client ${e.client})` : ''}`];
  lines.push(`matched   ${e.matched.length ? e.matched.join('; ') : 'no rule (the RFC 9111 defaults apply)'}`);
  for (const [key, value] of Object.entries(e.settings)) lines.push(`  ${key} = ${JSON.stringify(value)}  (from ${e.from[key] ?? '?'})`);
  lines.push(`stored    ${e.store ? 'yes' : 'never (store: false)'}; record ${e.record ? 'on' : 'off'}; offline ${e.offline ? 'on' : 'off'} (${e.offlineFrom})`);
  lines.push(`key query ${e.keyQuery || '(none)'}  (the origin still receives the URL as sent)`);
  if (e.policy) lines.push(`policy    validators=${e.policy.validators} requestCacheControl=${e.policy.requestCacheControl} (${e.policy.rule})`);
  return lines.join('\n');
}

const explain: CommandModule<object, ExplainArgs> = {
  command: 'explain [url]',
  describe: 'show which rules apply to a URL and what they change',
  builder: (y) =>
    withConnection(y)
      .positional('url', { type: 'string', describe: 'an absolute http:// or https:// URL' })
      .option('client', { type: 'string', describe: 'also resolve this client\'s policy' })
      .option('json', { type: 'boolean', describe: "print the admin API's JSON" }) as Argv<ExplainArgs>,
  handler: (args) =>
    run(async () => {
      if (!args.url) throw new AdminCommandError('give the URL to explain, e.g. http://news.example/articles/1');
      const query = new URLSearchParams({ url: args.url, ...(args.client !== undefined && { client: args.client }) });
      const explanation = (await call(args, 'GET', `/rules/resolve?${query}`)) as Explanation;
      return shown(args.json, explanation, formatExplanation);
    }),
};

export const rulesCommand: CommandModule = {
  command: 'rules <command>',
  describe: 'list, change or explain the URL rules for crawls of a running proxy (through its admin API)',
  builder: (y) =>
    y
      .command(list)
      .command(set)
      .command(remove)
      .command(explain)
      .demandCommand(1, 'name a subcommand: list, set, delete or explain'),
  handler: () => {},
};
