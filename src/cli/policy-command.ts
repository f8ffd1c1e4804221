// `etag-proxy policy list|set|delete`: a thin client of the admin API (admin/policies-routes.ts).
// It validates nothing the server validates: a non-2xx answer prints the server's reason on
// stderr and exits 1. The admin URL defaults to http://127.0.0.1:8081, the address of a proxy
// started with --admin-port 8081 (the admin listener is off unless --admin-port is given).
import type { Argv, CommandModule } from 'yargs';
import { AdminCommandError, call, formatTable, runAdminCommand, shown, withConnection, type ConnectionArgs } from './admin-client.js';

interface TargetArgs extends ConnectionArgs {
  client?: string;
  host?: string;
  default?: boolean;
}
interface SetArgs extends TargetArgs {
  policy?: string;
  'request-cache-control'?: string;
}
interface ListArgs extends ConnectionArgs {
  json?: boolean;
}

function withTarget<T>(y: Argv<T>): Argv<T & TargetArgs> {
  return withConnection(y)
    .option('host', { type: 'string', describe: "a host rule (glob, e.g. '*.example.com') instead of a client rule" })
    .option('default', { type: 'boolean', describe: 'the default rule instead of a client rule' })
    .conflicts('host', 'default') as Argv<T & TargetArgs>;
}

/** The admin path of the rule a command names, and how to call it in messages. */
function target(args: TargetArgs): { path: string; label: string } {
  if (args.default) return { path: '/policies/default', label: 'default rule' };
  if (args.host !== undefined) return { path: `/policies/hosts/${encodeURIComponent(args.host)}`, label: `host rule ${args.host}` };
  if (!args.client) throw new AdminCommandError('name a client, or use --host <glob> or --default');
  return { path: `/policies/clients/${encodeURIComponent(args.client)}`, label: `client rule ${args.client}` };
}

function describeSettings(settings: { validators?: string; requestCacheControl?: string }): string {
  const parts = [];
  if (settings.validators) parts.push(`validators=${settings.validators}`);
  if (settings.requestCacheControl) parts.push(`requestCacheControl=${settings.requestCacheControl}`);
  return parts.join(' ');
}

interface RuleView {
  match?: string;
  validators?: string;
  requestCacheControl?: string;
}
interface PoliciesView {
  policies: { default: RuleView; clients: RuleView[]; hosts: RuleView[] };
  flags: { validators: string; requestCacheControl: string };
}

function formatList(view: PoliciesView): string {
  const rows: string[][] = [['RULE', 'VALIDATORS', 'REQUEST-CACHE-CONTROL']];
  const row = (name: string, rule: RuleView) => rows.push([name, rule.validators ?? '-', rule.requestCacheControl ?? '-']);
  for (const rule of view.policies.clients) row(`client ${rule.match}`, rule);
  for (const rule of view.policies.hosts) row(`host ${rule.match}`, rule);
  row('default', view.policies.default);
  rows.push(['flags', view.flags.validators, view.flags.requestCacheControl]);
  return formatTable(rows);
}

const run = (action: () => Promise<string>) => runAdminCommand('policy', action);

const list: CommandModule<object, ListArgs> = {
  command: 'list',
  describe: 'show the rules in force (first match wins: exact client, client globs, host globs, default, flags)',
  builder: (y) => withConnection(y).option('json', { type: 'boolean', describe: 'print the admin API\'s JSON' }) as Argv<ListArgs>,
  handler: (args) =>
    run(async () => {
      const view = await call(args, 'GET', '/policies');
      return shown(args.json, view as PoliciesView, formatList);
    }),
};

const set: CommandModule<object, SetArgs> = {
  command: 'set [client] [policy]',
  describe: "set a rule's policy: pass, strip or isolate (replaces the rule's settings)",
  builder: (y) =>
    withTarget(y)
      .positional('client', { type: 'string', describe: 'client id or glob (omit with --host / --default)' })
      .positional('policy', { type: 'string', describe: 'pass | strip | isolate' })
      .option('request-cache-control', { type: 'string', describe: "honor | ignore the client's request Cache-Control / Pragma" })
      .example('$0 policy set scraper-7 strip', '')
      .example("$0 policy set 'scraper-*' isolate --request-cache-control ignore", '')
      .example("$0 policy set --host '*.example.com' strip", '')
      .example('$0 policy set --default strip', '') as Argv<SetArgs>,
  handler: (args) =>
    run(async () => {
      // With --host or --default there is no client: the one positional given is the policy.
      const named = args.host !== undefined || args.default;
      if (named && args.policy !== undefined) throw new AdminCommandError(`unexpected argument ${JSON.stringify(args.policy)}`);
      const policy = named ? args.client : args.policy;
      const { path, label } = target(named ? { ...args, client: undefined } : args);
      const settings = {
        ...(policy !== undefined && { validators: policy }),
        ...(args['request-cache-control'] !== undefined && { requestCacheControl: args['request-cache-control'] }),
      };
      if (!Object.keys(settings).length) throw new AdminCommandError('give a policy (pass | strip | isolate) or --request-cache-control');
      const saved = (await call(args, 'PUT', path, settings)) as RuleView;
      return `${label}: ${describeSettings(saved)}`;
    }),
};

const remove: CommandModule<object, TargetArgs> = {
  command: 'delete [client]',
  describe: 'delete a rule (the next rule in precedence then applies)',
  builder: (y) => withTarget(y).positional('client', { type: 'string', describe: 'client id or glob, exactly as set' }) as Argv<TargetArgs>,
  handler: (args) =>
    run(async () => {
      const { path, label } = target(args);
      await call(args, 'DELETE', path);
      return `${label}: deleted`;
    }),
};

export const policyCommand: CommandModule = {
  command: 'policy <command>',
  describe: 'list or change per-client policies of a running proxy (through its admin API)',
  builder: (y) =>
    y
      .command(list)
      .command(set)
      .command(remove)
      .demandCommand(1, 'name a subcommand: list, set or delete'),
  handler: () => {},
};
