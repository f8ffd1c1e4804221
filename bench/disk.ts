// The disk store's rows of `npm run bench` (issue 20): hits of 1 KB and 100 KB and the many-URLs
// scenario with --cache-size at about a fifth of the working set and above it, on the disk store
// beside the memory store in the same run; and the time from start to the first answer with the
// cache filled to 1 GiB (full-cache.ts). The measuring is run.ts's; this file holds the table.
import { upstreamCount, cpuPerRequest, rate, type Measured, type Scenario } from './scenarios.js';
import { int, mb, ms, pct, table } from './format.js';

export interface DiskRow {
  scenario: Scenario;
  memory: Measured;
  disk: Measured;
}

export interface DiskStartup {
  /** Bytes of the disk store's data file when the proxy was started on it. */
  fileBytes: number;
  /** Bytes the store held against --cache-size (its own count). */
  storedBytes: number;
  /** Spawn of the process to the first 200 through it (a hit from disk), ms. */
  firstAnswerMs: number;
  /** Same, with an empty cache directory. */
  emptyFirstAnswerMs: number;
  firstCacheStatus: string;
}

const hitRatio = (m: Measured): number => 100 * (1 - upstreamCount(m) / m.load.total);
const rss = (m: Measured, shared: number | undefined): string => mb(m.ownProxyPeakRss ?? shared);
const cpu = (m: Measured): string => {
  const us = cpuPerRequest(m);
  return us === undefined ? 'n/a' : int(us);
};

export function diskReport(rows: DiskRow[], startup: DiskStartup | string, sharedRss: { memory?: number; disk?: number }): string {
  const out = ['## Disk store beside the memory store (same run)', ''];
  const body = rows.flatMap(({ scenario, memory, disk }) => [
    [scenario.name, 'memory', int(rate(memory)), pct(hitRatio(memory)), ms(memory.load.p99Ms), cpu(memory), rss(memory, sharedRss.memory)],
    ['', 'disk', int(rate(disk)), pct(hitRatio(disk)), ms(disk.load.p99Ms), cpu(disk), rss(disk, sharedRss.disk)],
    ['', 'disk / memory', `${(rate(disk) / rate(memory)).toFixed(2)}×`, '', '', cpuRatio(disk, memory), ''],
  ]);
  out.push(table(['Scenario', 'Store', 'req/s', 'Hit ratio', 'p99 ms', 'Proxy µs CPU / req', 'Proxy peak RSS'], body), '');
  if (typeof startup === 'string') out.push(`Start-up with a full cache: not measured (${startup}).`);
  else
    out.push(
      `Start-up on a full disk store (${mb(startup.storedBytes)} stored, data.mdb and the body ring ${mb(startup.fileBytes)}): first answer ${int(startup.firstAnswerMs)} ms after the process was spawned ` +
        `(${startup.firstCacheStatus}); with an empty directory ${int(startup.emptyFirstAnswerMs)} ms: the full cache added ${int(startup.firstAnswerMs - startup.emptyFirstAnswerMs)} ms. Nothing is read before listening.`,
    );
  return out.join('\n');
}

function cpuRatio(disk: Measured, memory: Measured): string {
  const d = cpuPerRequest(disk);
  const m = cpuPerRequest(memory);
  return d === undefined || m === undefined ? '' : `${(d / m).toFixed(2)}×`;
}
