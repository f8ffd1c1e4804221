// The parent scenario of `npm run bench` (issue 19): hits, revalidations and pass-through through
// a proxy started with `--parent` (a proxy-chain parent, bench/parent-server.ts) beside the same
// load through a proxy that goes direct, in the same run, alternating. It reports the proxy's CPU
// per request on each side (the bar: at most 15 % more through a parent) and the parent's own,
// twice: each side as fast as it goes (closed loop), and both sides paced at the same rate
// (bench/paced-load.ts). The bar reads the paced runs: CPU per request depends on the load (a
// busier event loop handles more events per wakeup), and in the closed loop the side through the
// parent runs at a lower rate only because the parent shares the machine's two cores
// (docs/design-notes/parents.md, "What a request through a parent costs").
import { bar, int, pct, table } from './format.js';
import { runLoad, type LoadResult } from './load.js';
import { runPacedLoad } from './paced-load.js';
import { freePort, get, memoryStoreUnlessGiven, ProcessMonitor, spawnNode, waitForHttp, waitForLine, type Child } from './processes.js';

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

/** The paced rate, as a share of the slower side's closed-loop rate: neither side is saturated. */
const PACED_SHARE = 0.5;

/** Paced runs compare only when both sides answered within this share of each other's rate. */
const SAME_RATE = 0.1;

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
  const child = spawnNode('proxy', cliScript, memoryStoreUnlessGiven(['--host', '127.0.0.1', '--port', String(port), '--log-level', 'warn', ...args]));
  await waitForHttp(child, `http://127.0.0.1:${port}/`);
  return { child, port, monitor: new ProcessMonitor(child.pid) };
}

const cpuUsPerRequest = (cpuPercent: number | undefined, seconds: number, total: number): number | undefined =>
  cpuPercent === undefined || total === 0 ? undefined : ((cpuPercent / 100) * seconds * 1e6) / total;

async function measure(options: ParentBenchOptions, proxy: Running, originPort: number, scenario: (typeof SCENARIOS)[number], parent?: Running, rate?: number): Promise<Side> {
  const host = `127.0.0.1:${originPort}`;
  const target = { connectTo: `http://127.0.0.1:${proxy.port}`, path: `http://${host}/${scenario.id}`, host, ...(scenario.spread && { spread: scenario.spread }) };
  // Every spread URL once, so the revalidations find entries; then the warm-up.
  for (let k = 0; k < (scenario.spread ?? 1); k++) await get(`http://127.0.0.1:${proxy.port}`, { path: `${target.path}${scenario.spread ? `?k=${k}` : ''}`, headers: { host } });
  if (options.warmupSeconds > 0) await runLoad(target, { connections: options.connections, seconds: options.warmupSeconds });
  proxy.monitor.begin();
  parent?.monitor.begin();
  const load = rate ? await runPacedLoad(target, { connections: options.connections, seconds: options.seconds, rate }) : await runLoad(target, { connections: options.connections, seconds: options.seconds });
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
  const pacedRows: string[][] = [];
  const bars: string[] = [];
  // Direct, parent, parent, direct: the best of each pair, so a burst of other work on a
  // shared machine does not land on one side only.
  const pair = async (scenario: (typeof SCENARIOS)[number], rate?: number): Promise<{ straight: Side; through: Side; ratio: number | undefined }> => {
    const straightA = await measure(options, direct, origin.port, scenario, undefined, rate);
    const throughA = await measure(options, viaParent, origin.port, scenario, parent, rate);
    const throughB = await measure(options, viaParent, origin.port, scenario, parent, rate);
    const straightB = await measure(options, direct, origin.port, scenario, undefined, rate);
    const straight = cheaper(straightA, straightB);
    const through = cheaper(throughA, throughB);
    const ratio = straight.proxyCpuUs && through.proxyCpuUs ? (through.proxyCpuUs / straight.proxyCpuUs) * 100 : undefined;
    return { straight, through, ratio };
  };
  const ratioText = (ratio: number | undefined): string => (ratio === undefined ? '-' : pct(ratio));
  try {
    for (const scenario of SCENARIOS) {
      options.progress(`parent scenario, ${scenario.name}: direct, through the parent, through the parent, direct; closed loop`);
      const closed = await pair(scenario);
      rows.push([scenario.name, int(closed.straight.load.requestsPerSecond), int(closed.through.load.requestsPerSecond), us(closed.straight.proxyCpuUs), us(closed.through.proxyCpuUs), ratioText(closed.ratio), us(closed.through.parentCpuUs)]);
      const rate = Math.max(1, Math.round(PACED_SHARE * Math.min(closed.straight.load.requestsPerSecond, closed.through.load.requestsPerSecond)));
      options.progress(`parent scenario, ${scenario.name}: the same, both paced at ${rate} req/s`);
      const paced = await pair(scenario, rate);
      pacedRows.push([scenario.name, int(rate), int(paced.straight.load.requestsPerSecond), int(paced.through.load.requestsPerSecond), us(paced.straight.proxyCpuUs), us(paced.through.proxyCpuUs), ratioText(paced.ratio), us(paced.through.parentCpuUs)]);
      const { ratio } = paced;
      const answered = [paced.straight.load.requestsPerSecond, paced.through.load.requestsPerSecond];
      const sameRate = Math.max(...answered) - Math.min(...answered) <= SAME_RATE * Math.max(...answered);
      const label = `${scenario.name}: proxy CPU per request through a parent ≤ ${PARENT_CPU_BAR} % of direct (both paced at ${int(rate)} req/s; closed loop: ${ratioText(closed.ratio)})`;
      if (!sameRate) bars.push(bar(label, undefined, `the two sides answered ${answered.map(int).join(' and ')} req/s: not the same load, so not compared (a machine too busy to hold the pace); paced ratio ${ratioText(ratio)}`));
      else bars.push(bar(label, ratio === undefined ? undefined : ratio <= PARENT_CPU_BAR, ratio === undefined ? 'no CPU figures (no /proc)' : pct(ratio)));
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
    'Closed loop: each side as fast as it goes.',
    '',
    table(['Scenario', 'req/s direct', 'req/s via parent', 'proxy CPU µs/req direct', 'proxy CPU µs/req via parent', 'via parent / direct', 'parent CPU µs/req'], rows),
    '',
    `Paced: both sides at the same rate (${PACED_SHARE * 100} % of the slower side's closed-loop rate; bench/paced-load.ts). The bars read these.`,
    '',
    table(['Scenario', 'paced req/s', 'req/s direct', 'req/s via parent', 'proxy CPU µs/req direct', 'proxy CPU µs/req via parent', 'via parent / direct', 'parent CPU µs/req'], pacedRows),
    '',
    ...bars,
  ].join('\n');
}
