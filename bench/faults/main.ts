// `npm run faults`: the hostile-input table and the fault table against the built proxy, all on
// 127.0.0.1, bounded in time; prints Markdown tables on stdout (progress on stderr) and exits 1
// when a row fails that is not waiting for another branch's fix (its `dependsOn`).
// Environment: FAULTS_LOAD_SECONDS (10: load in the Redis and worker rows), FAULTS_CLIENTS (16),
// FAULTS_ONLY (`hostile` or `faults`: one table only), FAULTS_ROWS (ids of the fault table's rows
// to run, comma-separated, e.g. idle-tunnel,connection-share).
import { table } from '../format.js';
import { runScript, stopAll } from '../processes.js';
import { startFaultOrigin, startProxyChild } from './env.js';
import { runFaultTable, type FaultResult } from './faults.js';
import { HOSTILE_ROWS, interfaceAddress, runHostileTable, type RowResult } from './hostile.js';

const LOAD_SECONDS = whole('FAULTS_LOAD_SECONDS', 10);
const CLIENTS = whole('FAULTS_CLIENTS', 16);
const ONLY = process.env['FAULTS_ONLY'];
const ROWS = process.env['FAULTS_ROWS']?.split(',').map((id) => id.trim()).filter(Boolean);

function whole(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name}: expected a whole number above 0, got "${raw}"`);
  return value;
}

const progress = (line: string): void => void process.stderr.write(`[faults] ${line}\n`);
const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

function verdict(result: RowResult): string {
  if (result.ok) return 'PASS';
  return result.row.dependsOn ? 'PENDING' : 'FAIL';
}

function expected(result: RowResult): string {
  const { statuses, close } = result.row;
  const list = statuses.map((s) => (Array.isArray(s) ? s.join('/') : String(s))).join(', ') || 'no response';
  return `${list}${close === true ? ' + close' : ''}`;
}

async function hostile(out: string[]): Promise<boolean> {
  const origin = await startFaultOrigin();
  const proxy = await startProxyChild(['--upstream-timeout', '2s'], { admin: true });
  const env = { proxyPort: proxy.port, adminPort: proxy.adminPort!, origin, interfaceAddress: interfaceAddress() };
  progress(`hostile input: ${HOSTILE_ROWS.length} rows against ${proxy.url} (admin port ${env.adminPort}, interface address ${env.interfaceAddress})`);
  const started = performance.now();
  const { results, bystander } = await runHostileTable(env);
  const seconds = (performance.now() - started) / 1000;
  await proxy.stop();
  await origin.close();
  const passed = results.filter((r) => r.ok).length;
  const pending = results.filter((r) => !r.ok && r.row.dependsOn);
  const failed = results.filter((r) => !r.ok && !r.row.dependsOn);
  out.push('## Hostile input', '');
  out.push(
    `${results.length} raw requests, 8 connections at a time, ${seconds.toFixed(1)} s: ${passed} pass, ${pending.length} pending on other branches, ${failed.length} fail. ` +
      `Meanwhile a well-behaved client on its own keep-alive connection got ${bystander.ok} byte-correct answers and ${bystander.wrong.length} wrong ones.`,
    '',
  );
  out.push(
    table(
      ['Row', 'Group', 'Request', 'Expected', 'Got', 'Result'],
      results.map((r) => [`\`${r.row.id}\``, r.row.group, cell(r.row.what), expected(r), cell(r.got), `${verdict(r)}${r.problem ? `: ${cell(r.problem)}` : ''}`]),
      [false, false, false, false, false, false],
    ),
    '',
  );
  if (pending.length) {
    out.push('Pending rows wait for:', '');
    for (const reason of new Set(pending.map((r) => r.row.dependsOn!))) out.push(`- ${reason}: ${pending.filter((r) => r.row.dependsOn === reason).map((r) => `\`${r.row.id}\``).join(', ')}`);
    out.push('');
  }
  if (bystander.wrong.length) out.push(`Well-behaved client, wrong answers: ${bystander.wrong.slice(0, 5).join('; ')}`, '');
  return failed.length === 0 && bystander.wrong.length === 0;
}

async function faults(out: string[]): Promise<boolean> {
  const origin = await startFaultOrigin();
  progress(`faults: origin faults, then Redis SIGKILL and a worker SIGKILL under ${LOAD_SECONDS} s of load from ${CLIENTS} clients`);
  const started = performance.now();
  let rows: FaultResult[];
  try {
    rows = await runFaultTable(origin, { loadSeconds: LOAD_SECONDS, clients: CLIENTS, ...(ROWS && { only: ROWS }) });
  } finally {
    await origin.close();
  }
  out.push('## Faults', '');
  out.push(`${rows.length} rows, ${((performance.now() - started) / 1000).toFixed(1)} s.`, '');
  out.push(table(['Row', 'Fault', 'Result', 'What happened'], rows.map((r) => [`\`${r.id}\``, cell(r.what), r.ok ? 'PASS' : 'FAIL', cell(r.detail)]), [false, false, false, false]), '');
  return rows.every((r) => r.ok);
}

async function main(): Promise<void> {
  const out: string[] = [];
  let ok = true;
  if (ONLY !== 'faults') ok = (await hostile(out)) && ok;
  if (ONLY !== 'hostile') ok = (await faults(out)) && ok;
  process.stdout.write(`${out.join('\n')}\n`);
  if (!ok) process.exitCode = 1;
}

// Bounded in time whatever happens: every row has its own timeouts, this is the last resort.
const WATCHDOG_MS = 5 * 60_000;
setTimeout(() => {
  progress(`still running after ${WATCHDOG_MS / 60_000} minutes: stopping`);
  void stopAll().finally(() => process.exit(1));
}, WATCHDOG_MS).unref();

await runScript('faults', main, progress);
