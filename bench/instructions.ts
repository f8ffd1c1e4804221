// `npm run bench:instructions`: user-space CPU instructions per request, counted by valgrind's
// callgrind, for the proxy's scenarios and for the same requests answered by the origin alone.
// Run alone, the same build gives the same figure within about 1 %; other busy processes move it
// by up to 10–15 % (each wakeup then handles more requests at once), far less than req/s and CPU
// µs swing on a shared machine, so compare builds in runs one after the other. It leaves out the kernel (socket reads and writes, wakeups) and runs
// each process about 50 times slower, so it complements `npm run bench`, never replaces it.
// Each subject runs under `valgrind --tool=callgrind --instr-atstart=no`; after a warm-up load
// (the JIT settles) instrumentation is switched on (`callgrind_control -i on`), a fixed number of
// requests is sent by a keep-alive client in this process, and the counters are dumped.
// Needs valgrind (Debian: `apt-get install valgrind`, which brings callgrind_control).
// The parent table (issue 19): the hit, revalidation and pass-through scenarios through the proxy
// going direct and through the proxy started with `--parent` (a proxy-chain parent,
// bench/parent-server.ts, not under valgrind: only the proxy's instructions count), and the bare
// forwarder both ways (the floor of what a request through a parent costs a Node proxy). The hit
// scenarios also run through bench/bare-cache.ts: the floor of what a hit costs a Node cache.
// Environment: BENCH_INSTR_REQUESTS (2000 measured), BENCH_INSTR_WARMUP (3000),
// BENCH_INSTR_CONCURRENCY (10), BENCH_ONLY (scenario names, as for `npm run bench`; `parent`: the
// parent table, alone or with the names of its scenarios), BENCH_PROXY_SCRIPT (another build's
// dist/src/cli/main.js, to compare builds), BENCH_INSTR_DISK (1: the hit scenarios also through a
// proxy on the disk store, a fresh directory each; 0 = memory store only), BENCH_INSTR_TOP (N > 0:
// each subject runs with `node --perf-basic-prof`, and the N functions that cost most per request
// are printed after its figure, V8's JIT code named through /tmp/perf-<pid>.map: callgrind itself
// only sees it as `???:0x…`).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { int, table } from './format.js';
import { freePort, MissingTool, runScript, spawnCommand, spawnNode, waitForHttp, waitForLine, type Child } from './processes.js';

const here = dirname(fileURLToPath(import.meta.url));
const REQUESTS = count('BENCH_INSTR_REQUESTS', 2000);
const WARMUP = count('BENCH_INSTR_WARMUP', 3000);
const CONCURRENCY = count('BENCH_INSTR_CONCURRENCY', 10);
const PROXY_SCRIPT = process.env.BENCH_PROXY_SCRIPT || join(here, '..', 'src', 'cli', 'main.js');
// Start-up under valgrind takes seconds (every module is loaded and compiled 50 times slower).
const STARTUP_MS = 120_000;
const DISK = process.env.BENCH_INSTR_DISK !== '0';
const TOP = Number(process.env.BENCH_INSTR_TOP ?? 0) || 0;
/** Node's flags for the subjects: with BENCH_INSTR_TOP, a map of the JIT code's addresses. */
const NODE_FLAGS = TOP > 0 ? ['--perf-basic-prof'] : [];
// The scenarios answered from the store, which the disk-store proxy repeats (issue 20's bar: a
// disk hit within 10 % of a memory hit).
const HIT_SCENARIOS = new Set(['1k', '100k']);
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',').map((name) => name.trim())) : undefined;

interface Scenario {
  name: string;
  label: string;
  /** Route on the origin; requests go to `<route>?k=0…urls-1` in turn. */
  route: string;
  urls: number;
}

/** The scenarios of the parent table (those of `npm run bench`'s parent scenario). */
const PARENT_SCENARIOS: ReadonlySet<string> = new Set(['1k', 'revalidate', 'nostore']);

const SCENARIOS: Scenario[] = [
  { name: '1k', label: 'Hit, 1 KB', route: '/1k', urls: 1 },
  { name: '100k', label: 'Hit, 100 KB', route: '/100k', urls: 1 },
  { name: 'revalidate', label: 'Revalidate (upstream 304), 1 KB, 1,000 URLs', route: '/revalidate', urls: 1000 },
  { name: 'nostore', label: 'Pass-through (no-store), 1 KB, 1,000 URLs', route: '/nostore', urls: 1000 },
  { name: 'stale', label: 'Revalidate storm (max-age=0, 304), 4–64 KB, 1,000 URLs', route: '/stale', urls: 1000 },
];

function count(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return value;
}

function progress(line: string): void {
  process.stderr.write(`[instructions] ${line}\n`);
}

function requireValgrind(): void {
  for (const tool of ['valgrind', 'callgrind_control']) {
    const found = spawnSync(tool, ['--version'], { stdio: 'ignore' });
    if (found.error) throw new MissingTool(`${tool} is not on the PATH: install valgrind (Debian: apt-get update && apt-get install -y valgrind)`);
  }
}

/** `total` requests, `CONCURRENCY` at a time on kept-alive connections, rotating over the URLs. */
async function load(port: number, pathOf: (k: number) => string, host: string, total: number): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  let sent = 0;
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const k = sent++;
      const req = http.get({ host: '127.0.0.1', port, agent, path: pathOf(k), headers: { host } }, (res) => {
        if (res.statusCode !== 200) reject(new Error(`${pathOf(k)} answered ${res.statusCode}`));
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
    });
  const worker = async (): Promise<void> => {
    while (sent < total) await one();
  };
  try {
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  } finally {
    agent.destroy();
  }
}

function control(pid: number, ...args: string[]): void {
  const done = spawnSync('callgrind_control', [...args, String(pid)], { encoding: 'utf8' });
  if (done.status !== 0) throw new Error(`callgrind_control ${args.join(' ')} ${pid} failed: ${done.stderr || done.stdout}`);
}

/** What one dump counted: every instruction, and those V8 spent compiling (JIT tiers, parser). */
interface Counted {
  total: number;
  compiling: number;
  /** Self cost by function over the whole dump, compiling left out (filled with BENCH_INSTR_TOP). */
  functions?: Map<string, number>;
}

// V8's compilers: TurboFan, Maglev, Sparkplug, the bytecode generator and the parser it runs on.
// Under valgrind the JIT settles far later than in a real run (the warm-up is 50 times slower in
// wall time and the compile threads share valgrind's one lock): in a 1 KB hit run 45–56 % of the
// counted instructions were still compiling, which no request pays once a real process is warm.
const COMPILING = /v8::internal::(?:compiler|maglev|baseline)::|BytecodeGenerator|v8::internal::(?:Parser|Scanner|Zone)\b/;

/** Instructions in the dump callgrind_control -d wrote (`cg.<pid>.1`), all threads together. */
function dumpedInstructions(dir: string, pid: number): Counted {
  const file = join(dir, `cg.${pid}.1`);
  const match = existsSync(file) ? /^totals:\s+(\d+)/m.exec(readFileSync(file, 'utf8')) : null;
  if (!match) throw new Error(`no callgrind dump for pid ${pid} in ${dir}`);
  // callgrind_annotate (valgrind's own) sums each function's self cost: `1,234 (0.1%)  ???:name [object]`.
  const annotated = spawnSync('callgrind_annotate', ['--threshold=100', '--inclusive=no', file], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (annotated.status !== 0) throw new Error(`callgrind_annotate ${file} failed: ${annotated.stderr}`);
  let compiling = 0;
  const functions = TOP > 0 ? new Map<string, number>() : undefined;
  const jitName = functions && jitNames(pid);
  for (const line of annotated.stdout.split('\n')) {
    const cost = /^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(.*)$/.exec(line);
    if (!cost) continue;
    const n = Number(cost[1]!.replaceAll(',', ''));
    if (COMPILING.test(line)) compiling += n;
    else if (functions && !cost[2]!.startsWith('PROGRAM TOTALS')) {
      const address = /^\?\?\?:0x([0-9a-f]+)/.exec(cost[2]!);
      const name = (address && jitName?.(parseInt(address[1]!, 16))) || cost[2]!.replace(/\s+\[[^\]]*\]$/, '');
      functions.set(name, (functions.get(name) ?? 0) + n);
    }
  }
  return { total: Number(match[1]), compiling, ...(functions && { functions }) };
}

/** Names of V8's JIT code by address, from the map `--perf-basic-prof` wrote (then removed). */
function jitNames(pid: number): ((address: number) => string | undefined) | undefined {
  const file = `/tmp/perf-${pid}.map`;
  if (!existsSync(file)) return undefined;
  const ranges = readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ start: parseInt(m[1]!, 16), size: parseInt(m[2]!, 16), name: m[3]! }))
    .sort((a, b) => a.start - b.start);
  rmSync(file, { force: true });
  return (address) => {
    let lo = 0;
    let hi = ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const range = ranges[mid]!;
      if (address < range.start) hi = mid - 1;
      else if (address >= range.start + range.size) lo = mid + 1;
      else return range.name;
    }
    return undefined;
  };
}

/** The `top` functions of a dump, per request. */
function topFunctions(counted: Counted, requests: number, top: number): string {
  const rows = [...(counted.functions ?? [])].sort((a, b) => b[1] - a[1]).slice(0, top);
  return rows.map(([name, n]) => `${int(n / requests).padStart(8)}  ${name}`).join('\n');
}

/** Instructions per request without V8's compiling: what a warm process pays. */
function work(counted: Counted): number {
  return counted.total - counted.compiling;
}

interface Subject {
  name: string;
  /** Program and arguments, run under valgrind (`port`: a free one, for those that take it). */
  command: (port: number) => string[];
  /** Resolves with the port it serves on once it answers. */
  ready: (child: Child, port: number) => Promise<number>;
  /** The request-target for URL k of a route (absolute-form through a proxy). */
  target: (route: string, k: number) => string;
}

/** Instructions per request of one subject on one scenario (all, and V8's compiling among them). */
async function measure(subject: Subject, scenario: Scenario, originHost: string, dir: string): Promise<Counted> {
  const port = await freePort();
  const child: Child = spawnCommand(subject.name, 'valgrind', ['--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${join(dir, 'cg.%p')}`, ...subject.command(port)]);
  try {
    const at = await subject.ready(child, port);
    const path = (k: number) => subject.target(scenario.route, k % scenario.urls) + (scenario.urls > 1 ? `?k=${k % scenario.urls}` : '');
    await load(at, path, originHost, WARMUP);
    control(child.pid, '-i', 'on');
    await load(at, path, originHost, REQUESTS);
    control(child.pid, '-d');
    const counted = dumpedInstructions(dir, child.pid);
    if (TOP > 0) process.stdout.write(`\n${subject.name}, ${scenario.label}: instructions per request by function (self)\n${topFunctions(counted, REQUESTS, TOP)}\n`);
    return { total: counted.total / REQUESTS, compiling: counted.compiling / REQUESTS };
  } catch (error) {
    // What the subject said (a proxy logs its 5xx with their cause at warn).
    throw new Error(`${subject.name}, ${scenario.label}: ${(error as Error).message}\n${child.output()}`, { cause: error });
  } finally {
    await child.stop();
  }
}

async function main(): Promise<void> {
  requireValgrind();
  const dir = mkdtempSync(join(tmpdir(), 'etag-proxy-instructions-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true })); // also after SIGINT
  const origin = spawnNode('origin', join(here, 'origin-server.js'), []);
  try {
    const originPort = Number(await waitForLine(origin, /listening (\d+)/));
    const originHost = `127.0.0.1:${originPort}`;
    const viaProxy = (route: string) => `http://${originHost}${route}`;
    const proxyWith = (name: string, args: () => string[]): Subject => ({
      name,
      command: (port) => [process.execPath, ...NODE_FLAGS, PROXY_SCRIPT, '--host', '127.0.0.1', '--port', String(port), '--log-level', 'warn', ...args()],
      ready: async (child, port) => {
        await waitForHttp(child, `http://127.0.0.1:${port}/`, 200, STARTUP_MS);
        return port;
      },
      target: viaProxy,
    });
    const proxy = proxyWith('proxy', () => ['--store', 'memory']);
    const diskProxy = proxyWith('proxy (disk store)', () => ['--store', `disk:${mkdtempSync(join(dir, 'disk-'))}`]);
    const printsPort = async (child: Child) => Number(await waitForLine(child, /listening (\d+)/, STARTUP_MS));
    const originAlone: Subject = { name: 'origin', command: () => [process.execPath, ...NODE_FLAGS, join(here, 'origin-server.js')], ready: printsPort, target: (route) => route };
    const bare: Subject = { name: 'bare forwarder', command: () => [process.execPath, ...NODE_FLAGS, join(here, 'bare-forwarder.js')], ready: printsPort, target: viaProxy };
    const bareCache: Subject = { name: 'bare cache', command: () => [process.execPath, ...NODE_FLAGS, join(here, 'bare-cache.js')], ready: printsPort, target: viaProxy };
    const rows: string[][] = [];
    // `BENCH_ONLY=parent` alone: only the parent table (all its scenarios).
    const onlyParent = ONLY?.has('parent') && !SCENARIOS.some((scenario) => ONLY.has(scenario.name));
    const chosen = onlyParent ? [] : SCENARIOS.filter((scenario) => !ONLY || ONLY.has(scenario.name));
    progress(`${WARMUP} warm-up and ${REQUESTS} measured requests per subject, ${CONCURRENCY} at a time; proxy ${PROXY_SCRIPT}`);
    const direct = new Map<string, Counted>();
    const row = (label: string, through: Counted, alone: Counted): string[] => [
      label,
      int(work(through)),
      int(work(alone)),
      `${(work(through) / work(alone)).toFixed(2)}x`,
      `${int(through.total)} / ${int(alone.total)}`,
    ];
    for (const scenario of chosen) {
      progress(`${scenario.label}: origin alone`);
      const alone = await measure(originAlone, scenario, originHost, dir);
      direct.set(scenario.route, alone);
      progress(`${scenario.label}: through the proxy`);
      const through = await measure(proxy, scenario, originHost, dir);
      rows.push(row(scenario.label, through, alone));
      if (DISK && HIT_SCENARIOS.has(scenario.name)) {
        progress(`${scenario.label}: through the proxy on the disk store`);
        const throughDisk = await measure(diskProxy, scenario, originHost, dir);
        rows.push(row(`${scenario.label}, disk store (disk / memory ${(work(throughDisk) / work(through)).toFixed(2)}x)`, throughDisk, alone));
      }
      if (HIT_SCENARIOS.has(scenario.name)) {
        progress(`${scenario.label}: bare cache`);
        rows.push(row(`${scenario.label}, bare cache (bench/bare-cache.ts)`, await measure(bareCache, scenario, originHost, dir), alone));
      }
    }
    const forwarded = chosen.find((scenario) => scenario.name === 'nostore');
    if (forwarded) {
      progress(`${forwarded.label}: bare forwarder`);
      rows.push(row(`${forwarded.label}, bare forwarder (bench/bare-forwarder.ts)`, await measure(bare, forwarded, originHost, dir), direct.get(forwarded.route)!));
    }
    const headings = ['Scenario', 'Proxy instructions / req', 'Origin alone instructions / req', 'Proxy / origin', 'Counted with V8 compiling: proxy / origin'];
    if (rows.length) process.stdout.write(`${table(headings, rows)}\n\nInstructions V8 spent compiling (TurboFan, Maglev, Sparkplug, bytecode, parser) are left out of the first three columns: under valgrind the JIT is still settling after the warm-up, and a warm process no longer pays them.\n`);
    if (!ONLY || ONLY.has('parent')) {
      const parentChosen = SCENARIOS.filter((scenario) => PARENT_SCENARIOS.has(scenario.name) && (onlyParent || !ONLY || ONLY.has(scenario.name)));
      process.stdout.write(`\n${await parentTable(parentChosen, { proxy, bare, originHost, dir })}\n`);
    }
  } finally {
    await origin.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

interface ParentSubjects {
  proxy: Subject;
  bare: Subject;
  originHost: string;
  dir: string;
}

/** The same subject started with `--parent` (the parent's password from the environment for the proxy). */
function throughParent(subject: Subject, parentUrl: string): Subject {
  return { ...subject, name: `${subject.name} via parent`, command: (port) => [...subject.command(port), '--parent', parentUrl] };
}

/** Direct and through a proxy-chain parent, for the proxy and the bare forwarder; the parent runs at full speed. */
async function parentTable(scenarios: Scenario[], { proxy, bare, originHost, dir }: ParentSubjects): Promise<string> {
  const parent = spawnNode('parent', join(here, 'parent-server.js'), []);
  try {
    const parentPort = Number(await waitForLine(parent, /listening (\d+)/));
    process.env['ETAG_PROXY_PARENT_PASSWORD'] = 'bench-pw';
    const proxyVia = throughParent(proxy, `http://bench@127.0.0.1:${parentPort}`);
    const bareVia = throughParent(bare, `http://bench:bench-pw@127.0.0.1:${parentPort}`);
    const rows: string[][] = [];
    const row = async (label: string, straight: Subject, via: Subject, scenario: Scenario): Promise<void> => {
      progress(`${label}: direct`);
      const direct = await measure(straight, scenario, originHost, dir);
      progress(`${label}: through the parent`);
      const through = await measure(via, scenario, originHost, dir);
      rows.push([label, int(work(direct)), int(work(through)), `${((work(through) / work(direct)) * 100).toFixed(0)} %`]);
    };
    for (const scenario of scenarios) await row(scenario.label, proxy, proxyVia, scenario);
    const forwarded = scenarios.find((scenario) => scenario.name === 'nostore');
    if (forwarded) await row(`${forwarded.label}, bare forwarder (bench/bare-forwarder.ts)`, bare, bareVia, forwarded);
    return table(['Scenario', 'Instructions / req direct', 'Instructions / req via parent', 'Via parent / direct'], rows);
  } finally {
    await parent.stop();
  }
}

void runScript('bench:instructions', main, progress);
