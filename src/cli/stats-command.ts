// `etag-proxy stats`: GET /stats of a running proxy as a short table (hit ratio, bandwidth
// saved, origin requests avoided, requests per outcome, and per parent pool and parent what it
// carried and what the cache saved it), or its JSON with --json. A thin client
// of the admin API, as `policy` is (admin-client.ts holds the connection options).
import type { Argv, CommandModule } from 'yargs';
import type { ParentStats, PoolStats, Stats } from '../observe/stats.js';
import { call, runAdminCommand, shown, withConnection, type ConnectionArgs } from './admin-client.js';

interface StatsArgs extends ConnectionArgs {
  json?: boolean;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

const percent = (ratio: number | null): string => (ratio === null ? '-' : `${(ratio * 100).toFixed(1)}%`);

const carried = (p: ParentStats): string => `${p.requests} requests, ${p.notModified} 304s, ${p.errors} errors, ${p.bans} bans`;
const onTheWire = (p: ParentStats): string => `${formatBytes(p.receivedBytes)} received, ${formatBytes(p.sentBytes)} sent`;
const saved = (money: number | undefined, pricePerGB: number | undefined): string => (money === undefined ? '' : ` (saved ${money.toFixed(2)} at ${pricePerGB}/GB)`);

/** A pool, then each of its parents: what it carried and what the cache saved it (hits count per pool, 304s per parent too). */
function poolRows(name: string, pool: PoolStats): Array<[string, string]> {
  return [
    [`pool ${name}`, carried(pool)],
    ['  on the wire', onTheWire(pool)],
    ['  avoided', `${pool.avoidedRequests} requests, ${formatBytes(pool.avoidedBytes)}${saved(pool.moneySaved, pool.pricePerGB)}`],
    ...Object.entries(pool.byParent).flatMap(([label, parent]): Array<[string, string]> => [
      ['  parent', label],
      ['    carried', carried(parent)],
      ['    on the wire', onTheWire(parent)],
      ['    avoided by 304s', `${formatBytes(parent.notModifiedAvoidedBytes)}${saved(parent.moneySaved, pool.pricePerGB)}`],
    ]),
  ];
}

export function formatStats(stats: Stats & { processes?: number }): string {
  const rows: Array<[string, string]> = [
    ['hit ratio', percent(stats.hitRatio)],
    ['bandwidth saved', formatBytes(stats.bandwidthSavedBytes)],
    ['origin requests avoided', String(stats.originRequestsAvoided)],
    ['requests', String(stats.requests)],
    ...Object.entries(stats.byOutcome).map(([outcome, n]): [string, string] => [`  ${outcome}`, String(n)]),
    ['upstream requests', String(stats.upstream.requests)],
    ['upstream bytes received', formatBytes(stats.upstream.receivedBytes)],
    ['store errors', String(stats.store.errors)],
    ['store', stats.store.breakerOpen ? 'DOWN (breaker open)' : 'up'],
    ['cached here', `${stats.store.entries} records, ${formatBytes(stats.store.bytes)}`],
    ...(stats.processes !== undefined && stats.processes > 1 ? [['workers', String(stats.processes)] as [string, string]] : []),
    ...Object.entries(stats.parents ?? {}).flatMap(([name, pool]) => poolRows(name, pool)),
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  return rows.map(([name, value]) => `${name.padEnd(width)}  ${value}`).join('\n');
}

export const statsCommand: CommandModule<object, StatsArgs> = {
  command: 'stats',
  describe: 'show what the cache saves: hit ratio, bandwidth saved, origin requests avoided, requests per outcome, and per parent pool and parent',
  builder: (y) => withConnection(y).option('json', { type: 'boolean', describe: "print the admin API's JSON" }) as Argv<StatsArgs>,
  handler: (args) =>
    runAdminCommand('stats', async () => {
      const stats = (await call(args, 'GET', '/stats')) as Stats;
      return shown(args.json, stats, formatStats);
    }),
};
