// `etag-proxy parents list|explain`: a thin client of the admin API's /parents
// (admin/parents-routes.ts), like `etag-proxy rules`. Parents are shown as scheme://host:port:
// the API never holds their credentials.
import type { Argv, CommandModule } from 'yargs';
import { AdminCommandError, call, runAdminCommand, shown, withConnection, type ConnectionArgs } from './admin-client.js';

interface ListArgs extends ConnectionArgs {
  json?: boolean;
}
interface ExplainArgs extends ConnectionArgs {
  url?: string;
  client?: string;
  session?: string;
  json?: boolean;
}

interface PoolView {
  name: string;
  selection: string;
  username?: string;
  parents: Array<{ parent: string; weight: number; up: boolean; downForMs?: number }>;
}
interface ParentsView {
  pools: PoolView[];
  routes: Array<{ match: Record<string, string>; pool: string }>;
  default: string;
  neverDirect: boolean;
}

const run = (action: () => Promise<string>) => runAdminCommand('parents', action);

function formatList(view: ParentsView): string {
  if (!view.pools.length) return 'no parent proxies: every request goes direct';
  const lines: string[] = [];
  for (const pool of view.pools) {
    lines.push(`pool ${pool.name}  (${pool.selection}${pool.username ? `, user ${pool.username}` : ''})`);
    for (const p of pool.parents) lines.push(`  ${p.parent}  weight ${p.weight}  ${p.up ? 'up' : `down for ${Math.ceil((p.downForMs ?? 0) / 1000)} s`}`);
  }
  view.routes.forEach((route, i) => lines.push(`route ${i}: ${Object.entries(route.match).map(([k, v]) => `${k} ${v}`).join(', ')} → ${route.pool}`));
  lines.push(`default → ${view.default}${view.neverDirect ? '  (neverDirect: a pool with no parent up answers 502)' : ''}`);
  return lines.join('\n');
}

const list: CommandModule<object, ListArgs> = {
  command: 'list',
  describe: 'show the pools, their parents (up or cooling down), the routing rules and the default',
  builder: (y) => withConnection(y).option('json', { type: 'boolean', describe: "print the admin API's JSON" }) as Argv<ListArgs>,
  handler: (args) =>
    run(async () => {
      const view = (await call(args, 'GET', '/parents')) as ParentsView;
      return shown(args.json, view, formatList);
    }),
};

const explain: CommandModule<object, ExplainArgs> = {
  command: 'explain [url]',
  describe: 'show which pool a request to URL goes through, and why',
  builder: (y) =>
    withConnection(y)
      .positional('url', { type: 'string', describe: 'an absolute http:// or https:// URL' })
      .option('client', { type: 'string', describe: 'the client identity, as routing rules and sticky selection see it' })
      .option('session', { type: 'string', describe: 'the session header\'s value (abc, or session=abc; country=us)' })
      .option('json', { type: 'boolean', describe: "print the admin API's JSON" }) as Argv<ExplainArgs>,
  handler: (args) =>
    run(async () => {
      if (!args.url) throw new AdminCommandError('give the URL to explain, e.g. https://shop.example/item/1');
      const query = new URLSearchParams({ url: args.url, ...(args.client !== undefined && { client: args.client }), ...(args.session !== undefined && { session: args.session }) });
      const e = (await call(args, 'GET', `/parents/explain?${query}`)) as Record<string, unknown>;
      if (args.json) return JSON.stringify(e, null, 2);
      const lines = [`url     ${String(e['url'])}${e['client'] ? `  (client ${String(e['client'])})` : ''}`, `pool    ${String(e['pool'])}  (${String(e['because'])})`];
      if (e['selection']) lines.push(`select  ${String(e['selection'])}${e['parent'] ? ` → ${String(e['parent'])}` : ''}; ${String(e['up'])} of ${(e['parents'] as string[]).length} parents up`);
      if (e['then']) lines.push(`now     ${String(e['then'])}`);
      return lines.join('\n');
    }),
};

export const parentsCommand: CommandModule = {
  command: 'parents <command>',
  describe: 'list the parent proxy pools of a running proxy, or explain where a URL goes (through its admin API)',
  builder: (y) => y.command(list).command(explain).demandCommand(1, 'name a subcommand: list or explain'),
  handler: () => {},
};
