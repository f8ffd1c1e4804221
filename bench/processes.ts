// Child processes of the benchmark: spawning the origin and the proxy (by pid, never by name),
// waiting until they answer, free ports, per-process RSS / CPU sampling from /proc, and killing
// every child on exit, error or SIGINT.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';

export interface Child {
  readonly name: string;
  readonly pid: number;
  readonly process: ChildProcess;
  /** Exit code or signal once it has exited, else undefined. */
  exitStatus(): string | undefined;
  /** The last lines it wrote on stdout and stderr (for error reports). */
  output(): string;
  stop(): Promise<void>;
}

const children = new Set<Child>();

/**
 * A proxy's arguments with `--store memory` unless they name a store: the CLI's default is the
 * disk store in the user's cache directory (issue 20), and the bench's memory rows must stay
 * memory rows (and must not fill ~/.cache).
 */
export function memoryStoreUnlessGiven(args: string[]): string[] {
  return args.includes('--store') ? args : ['--store', 'memory', ...args];
}

export function spawnNode(name: string, script: string, args: string[], nodeArgs: string[] = []): Child {
  return spawnCommand(name, process.execPath, [...nodeArgs, script, ...args]);
}

/** Any program as a child of the bench (stopped with the others); spawnNode for node scripts. */
export function spawnCommand(name: string, command: string, args: string[]): Child {
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  if (proc.pid === undefined) throw new Error(`${name}: could not start ${command} ${args.join(' ')}`);
  const lines: string[] = [];
  const keep = (chunk: Buffer): void => {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    if (lines.length > 40) lines.splice(0, lines.length - 40);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  let status: string | undefined;
  const exited = new Promise<void>((resolve) =>
    proc.once('exit', (code, signal) => {
      status = signal ? `signal ${signal}` : `exit code ${code}`;
      resolve();
    }),
  );
  const child: Child = {
    name,
    pid: proc.pid,
    process: proc,
    exitStatus: () => status,
    output: () => lines.join('\n'),
    async stop() {
      children.delete(child);
      if (status !== undefined) return;
      proc.kill('SIGTERM');
      const killer = setTimeout(() => proc.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(killer);
    },
  };
  children.add(child);
  return child;
}

export async function stopAll(): Promise<void> {
  await Promise.allSettled([...children].map((child) => child.stop()));
}

/** Last resort from process 'exit' handlers: synchronous, so only a signal. */
export function killAllNow(): void {
  for (const child of children) if (child.exitStatus() === undefined) child.process.kill('SIGKILL');
}

/** A program the bench needs is not installed: reported in one line, without a stack. */
export class MissingTool extends Error {}

/** Resolves with the first stdout line matching `pattern` (its first group), or fails when the child exits. */
/**
 * Run a bench script's main: child processes are killed on exit and stopped on SIGINT/SIGTERM
 * (exit 130), and a failure is reported on stderr, the children stopped, and exit code 1.
 */
export async function runScript(name: string, main: () => Promise<void>, progress: (line: string) => void): Promise<void> {
  process.on('exit', killAllNow);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      progress(`${signal}: stopping the child processes`);
      void stopAll().finally(() => process.exit(130));
    });
  }
  try {
    await main();
  } catch (error) {
    // Something missing from the machine is said in one line; anything else is a bug, with its stack.
    const text = error instanceof MissingTool ? error.message : ((error as Error).stack ?? String(error));
    process.stderr.write(`${name} failed: ${text}\n`);
    await stopAll();
    process.exitCode = 1;
  }
}

export function waitForLine(child: Child, pattern: RegExp, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => finish(new Error(`${child.name} did not start within ${timeoutMs} ms:\n${child.output()}`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      seen += chunk.toString('utf8');
      const match = pattern.exec(seen);
      if (match) finish(undefined, match[1] ?? match[0]);
    };
    const onExit = (): void => finish(new Error(`${child.name} exited (${child.exitStatus() ?? '?'}) before it was ready:\n${child.output()}`));
    const finish = (error?: Error, value?: string): void => {
      clearTimeout(timer);
      child.process.stdout?.off('data', onData);
      child.process.off('exit', onExit);
      if (error) reject(error);
      else resolve(value ?? '');
    };
    child.process.stdout?.on('data', onData);
    child.process.once('exit', onExit);
  });
}

/** Polls `url` until it answers `status`; fails if the child exits first or time runs out. */
export async function waitForHttp(child: Child, url: string, status = 200, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitStatus() !== undefined) throw new Error(`${child.name} exited (${child.exitStatus()}) before it was ready:\n${child.output()}`);
    const got = await get(url).catch(() => undefined);
    if (got?.status === status) return;
    if (Date.now() > deadline) throw new Error(`${child.name} did not answer ${url} with ${status} within ${timeoutMs} ms:\n${child.output()}`);
    await delay(100);
  }
}

export interface Fetched {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One GET on a fresh connection. `path` may be absolute-form (through a proxy). */
export function get(url: string, options: { path?: string; headers?: http.OutgoingHttpHeaders } = {}): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const req = http.request(
      { host: target.hostname, port: target.port, path: options.path ?? target.pathname, headers: options.headers, agent: false, timeout: 5000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** A port that was free a moment ago (listen on 0, read it, close). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// /proc/<pid>/stat counts CPU time in clock ticks; USER_HZ is 100 on every Linux we run on.
const CLOCK_TICKS_PER_SECOND = 100;

function readProc(pid: number): { rssKb: number; anonKb: number; hwmKb: number; cpuSeconds: number; sysSeconds: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    // Fields after the command name (which may hold spaces) start at field 3; utime, stime are 14, 15.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const sysTicks = Number(fields[12] ?? 0);
    const cpuTicks = Number(fields[11] ?? 0) + sysTicks;
    return { rssKb: kb('VmRSS'), anonKb: kb('RssAnon'), hwmKb: kb('VmHWM'), cpuSeconds: cpuTicks / CLOCK_TICKS_PER_SECOND, sysSeconds: sysTicks / CLOCK_TICKS_PER_SECOND };
  } catch {
    return undefined;
  }
}

export interface WindowStats {
  /** Highest RSS seen in the window, in bytes (undefined without /proc). */
  peakRss: number | undefined;
  /**
   * Highest anonymous RSS (RssAnon: heap, stacks, buffers; not pages of mapped files such as the
   * disk store's, which are the OS page cache) seen in the window, in bytes.
   */
  peakAnonRss?: number | undefined;
  /** CPU time (user + system) used in the window as a % of one core. */
  cpuPercent: number | undefined;
  /** The system (kernel) part of cpuPercent. */
  sysPercent: number | undefined;
}

/** Samples a process's RSS every 200 ms; windows give per-scenario peaks and CPU use. */
/** Whether /proc shows a process with this pid on this machine (e.g. a local redis-server). */
export function isLocalProcess(pid: number | undefined, command: string): boolean {
  if (!pid) return false;
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim().startsWith(command);
  } catch {
    return false;
  }
}

export class ProcessMonitor {
  private readonly timer: NodeJS.Timeout;
  private windowPeakKb = 0;
  private windowPeakAnonKb = 0;
  private windowCpu = new Map<number, { cpu: number; sys: number }>();
  private windowStart = 0;

  /** Watches `pid` and its descendants (the workers of `--workers N`), summed. */
  constructor(readonly pid: number) {
    this.timer = setInterval(() => this.sample(), 200);
    this.timer.unref();
  }

  private read(): Map<number, NonNullable<ReturnType<typeof readProc>>> {
    const found = new Map<number, NonNullable<ReturnType<typeof readProc>>>();
    for (const pid of [this.pid, ...descendants(this.pid)]) {
      const now = readProc(pid);
      if (now) found.set(pid, now);
    }
    return found;
  }

  private sample(): Map<number, NonNullable<ReturnType<typeof readProc>>> {
    const now = this.read();
    this.windowPeakKb = Math.max(this.windowPeakKb, sum(now, (p) => p.rssKb));
    this.windowPeakAnonKb = Math.max(this.windowPeakAnonKb, sum(now, (p) => p.anonKb));
    return now;
  }

  begin(): void {
    const now = this.read();
    this.windowPeakKb = sum(now, (p) => p.rssKb);
    this.windowPeakAnonKb = sum(now, (p) => p.anonKb);
    this.windowCpu = new Map([...now].map(([pid, p]) => [pid, { cpu: p.cpuSeconds, sys: p.sysSeconds }]));
    this.windowStart = performance.now();
  }

  end(): WindowStats {
    const now = this.sample();
    if (!now.size) return { peakRss: undefined, cpuPercent: undefined, sysPercent: undefined };
    const wallSeconds = (performance.now() - this.windowStart) / 1000;
    // A process born during the window (a restarted worker) counts from zero.
    const cpu = sum(now, (p, pid) => p.cpuSeconds - (this.windowCpu.get(pid)?.cpu ?? 0));
    const sys = sum(now, (p, pid) => p.sysSeconds - (this.windowCpu.get(pid)?.sys ?? 0));
    return { peakRss: this.windowPeakKb * 1024, peakAnonRss: this.windowPeakAnonKb * 1024, cpuPercent: (100 * cpu) / wallSeconds, sysPercent: (100 * sys) / wallSeconds };
  }

  /** The kernel's high-water mark for the whole life of the process, in bytes (summed over its tree). */
  lifetimePeak(): number | undefined {
    const now = this.read();
    return now.size ? sum(now, (p) => p.hwmKb) * 1024 : undefined;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

function sum<T>(values: Map<number, T>, of: (value: T, pid: number) => number): number {
  let total = 0;
  for (const [pid, value] of values) total += of(value, pid);
  return total;
}

/** Every descendant of `pid`, from /proc/<pid>/task/<tid>/children (empty without /proc). */
function descendants(pid: number): number[] {
  const found: number[] = [];
  const queue = [pid];
  for (let next = queue.pop(); next !== undefined; next = queue.pop()) {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${next}/task`);
    } catch {
      continue;
    }
    for (const task of tasks) {
      let children: string;
      try {
        children = readFileSync(`/proc/${next}/task/${task}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const child of children.split(' ').filter(Boolean).map(Number)) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

interface CpuTimes {
  busy: number;
  softirq: number;
  steal: number;
  total: number;
}

function readMachine(): CpuTimes | undefined {
  try {
    // cpu  user nice system idle iowait irq softirq steal …, summed over every core.
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
    return { busy: user + nice + system + irq + softirq, softirq: irq + softirq, steal, total: user + nice + system + idle + iowait + irq + softirq + steal };
  } catch {
    return undefined;
  }
}

export interface MachineStats {
  /** Busy CPU (user, system, irq, softirq) of all cores, in % of one core (200 % = 2 cores busy). */
  busyPercent: number;
  /** The part of busyPercent spent in (soft)irq, e.g. loopback TCP delivery, % of one core. */
  irqPercent: number;
  /** Time the hypervisor gave our vCPUs to someone else, % of one core. */
  stealPercent: number;
}

/** Busy CPU of the whole machine over `ms`, in % of one core (undefined without /proc). */
export async function machineBusy(ms: number): Promise<number | undefined> {
  const probe = new MachineCpu();
  await delay(ms);
  return probe.end()?.busyPercent;
}

/** Whole-machine CPU between begin() and end(), from /proc/stat: shows what else competed. */
export class MachineCpu {
  private start = readMachine();
  private readonly cores = Math.max(1, availableParallelism());

  begin(): void {
    this.start = readMachine();
  }

  end(): MachineStats | undefined {
    const now = readMachine();
    if (!now || !this.start) return undefined;
    const total = now.total - this.start.total || 1;
    const share = (n: number): number => (100 * this.cores * n) / total;
    return { busyPercent: share(now.busy - this.start.busy), irqPercent: share(now.softirq - this.start.softirq), stealPercent: share(now.steal - this.start.steal) };
  }
}
