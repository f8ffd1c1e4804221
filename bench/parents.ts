// The parent scenario of `npm run bench` (issue 19): hits, revalidations and pass-through through
// a proxy started with `--parent` (a proxy-chain parent, bench/parent-server.ts) beside the same
// load through a proxy that goes direct, in the same run, alternating. It reports the proxy's CPU
// per request on each side (the bar: at most 15 % more through a parent) and the parent's own.
import { bar, int, pct, table } from './format.js';
import { runLoad, type LoadResult } from './load.js';
import { freePort, get, ProcessMonitor, spawnNode, waitForHttp, waitForLine, type Child } from './processes.js';

export interface ParentBenchOptions {
  originScript: string;
  cliScript: string;
  parentScript: string;
  seconds: number;
  warmupSeconds: number;
  connections: number;
  progress: (line: string) => void;
}

interface Side {
  load: LoadResult;
  proxyCpuUs: number | undefined;
  parentCpuUs?: number | undefined;
}

const SCENARIOS = [
  { id: '1k', name: 'Hit, 1 KB', spread: undefined },
  { id: 'revalidate', name: 'Revalidate (upstream 304), 1 KB, 1,000 URLs', spread: 1000 },
  { id: 'nostore', name: 'Pass-through (no-store), 1 KB, 1,000 URLs', spread: 1000 },
] as const;

/** The bar: proxy CPU per request through a parent, as a % of the same going direct. */
export const PARENT_CPU_BAR = 115;

interface Running {
  child: Child;
  port: number;
  monitor: ProcessMonitor;
}

async function startNode(name: string, script: string, args: string[]): Promise<Running> {
  const child = spawnNode(name, script, args);
  const port = Number(await waitForLine(child, /listening (\d+)/));
  return { child, port, monitor: new ProcessMonitor(child.pid) };
}

async function startProxy(cliScript: string, args: string[]): Promise<Running> {
  const port = await freePort();
  const child = spawnNode('proxy', cliScript, ['--host', '127.0.0.1', '--port', String(port), '--log-level', 'warn', ...args]);
  await waitForHttp(child, `http://127.0.0.1:${port}/`);
  return { child, port, monitor: new ProcessMonitor(child.pid) };
}

const cpuUsPerRequest = (cpuPercent: number | undefined, seconds: number, total: number): number | undefined =>
  cpuPercent === undefined || total === 0 ? undefined : ((cpuPercent / 100) * seconds * 1e6) / total;

async function measure(options: ParentBenchOptions, proxy: Running, originPort: number, scenario: (typeof SCENARIOS)[number], parent?: Running): Promise<Side> {
  const host = `127.0.0.1:${originPort}`;
  const target = { connectTo: `http://127.0.0.1:${proxy.port}`, path: `http://${host}/${scenario.id}`, host, ...(scenario.spread && { spread: scenario.spread }) };
  // Every spread URL once, so the revalidations find entries; then the warm-up.
  for (let k = 0; k < (scenario.spread ?? 1); k++) await get(`http://127.0.0.1:${proxy.port}`, { path: `${target.path}${scenario.spread ? `?k=${k}` : ''}`, headers: { host } });
  if (options.warmupSeconds > 0) await runLoad(target, { connections: options.connections, seconds: options.warmupSeconds });
  proxy.monitor.begin();
  parent?.monitor.begin();
  const load = await runLoad(target, { connections: options.connections, seconds: options.seconds });
  const proxyWindow = proxy.monitor.end();
  const parentWindow = parent?.monitor.end();
  if (load.errors || load.non2xx) options.progress(`  warning: ${load.errors} errors, ${load.non2xx} non-2xx responses`);
  return {
    load,
    proxyCpuUs: cpuUsPerRequest(proxyWindow.cpuPercent, options.seconds, load.total),
    ...(parent && { parentCpuUs: cpuUsPerRequest(parentWindow?.cpuPercent, options.seconds, load.total) }),
  };
}

/** The run that cost the proxy less CPU per request. */
const cheaper = (a: Side, b: Side): Side => ((b.proxyCpuUs ?? Infinity) < (a.proxyCpuUs ?? Infinity) ? b : a);

const us = (n: number | undefined): string => (n === undefined ? '-' : n.toFixed(0));

/** Runs the scenario and returns its Markdown section. */
export async function runParentBench(options: ParentBenchOptions): Promise<string> {
  const origin = await startNode('origin', options.originScript, []);
  const parent = await startNode('parent', options.parentScript, []);
  process.env['ETAG_PROXY_PARENT_PASSWORD'] = 'bench-pw';
  const direct = await startProxy(options.cliScript, []);
  const viaParent = await startProxy(options.cliScript, ['--parent', `http://bench@127.0.0.1:${parent.port}`]);
  const rows: string[][] = [];
  const bars: string[] = [];
  try {
    for (const scenario of SCENARIOS) {
      // Direct, parent, parent, direct: the best of each pair, so a burst of other work on a
      // shared machine does not land on one side only.
      options.progress(`parent scenario, ${scenario.name}: direct, through the parent, through the parent, direct`);
      const straightA = await measure(options, direct, origin.port, scenario);
      const throughA = await measure(options, viaParent, origin.port, scenario, parent);
      const throughB = await measure(options, viaParent, origin.port, scenario, parent);
      const straightB = await measure(options, direct, origin.port, scenario);
      const straight = cheaper(straightA, straightB);
      const through = cheaper(throughA, throughB);
      const ratio = straight.proxyCpuUs && through.proxyCpuUs ? (through.proxyCpuUs / straight.proxyCpuUs) * 100 : undefined;
      rows.push([scenario.name, int(straight.load.requestsPerSecond), int(through.load.requestsPerSecond), us(straight.proxyCpuUs), us(through.proxyCpuUs), ratio === undefined ? '-' : pct(ratio), us(through.parentCpuUs)]);
      bars.push(bar(`${scenario.name}: proxy CPU per request through a parent ≤ ${PARENT_CPU_BAR} % of direct`, ratio === undefined ? undefined : ratio <= PARENT_CPU_BAR, ratio === undefined ? 'no CPU figures (no /proc)' : pct(ratio)));
    }
  } finally {
    for (const running of [viaParent, direct, parent, origin]) {
      running.monitor.stop();
      await running.child.stop();
    }
  }
  return [
    '## Through a parent proxy (proxy-chain, Basic auth)',
    '',
    table(['Scenario', 'req/s direct', 'req/s via parent', 'proxy CPU µs/req direct', 'proxy CPU µs/req via parent', 'via parent / direct', 'parent CPU µs/req'], rows),
    '',
    ...bars,
  ].join('\n');
}
