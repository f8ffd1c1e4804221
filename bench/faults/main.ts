// `npm run faults`: the hostile-input table and the fault table against the built proxy, all on
// 127.0.0.1, bounded in time; prints Markdown tables on stdout (progress on stderr) and exits 1
// when any row fails (a row's `dependsOn` only says which fix it was written for: every branch it
// names has landed), when the tables lose rows, or when the well-behaved bystander got anything
// wrong. CI runs it (.ci/run); it replaced the short forms that ran inside `npm test`.
// Environment: FAULTS_LOAD_SECONDS (10: load in the pattern, Redis and worker rows), FAULTS_CLIENTS (16),
// FAULTS_ONLY (`hostile` or `faults`: one table only), FAULTS_ROWS (fault row ids, comma-separated:
// only those rows of the fault table, e.g. FAULTS_ONLY=faults FAULTS_ROWS=slow-reader,pattern).
import { table } from '../format.js';
import { runScript, stopAll } from '../processes.js';
import { startFaultOrigin, startProxyChild } from './env.js';
import { FAULT_ROW_IDS, runFaultTable, type FaultResult } from './faults.js';
import { HOSTILE_ROWS, interfaceAddress, runHostileTable, type RowResult } from './hostile.js';

const LOAD_SECONDS = whole('FAULTS_LOAD_SECONDS', 10);
const CLIENTS = whole('FAULTS_CLIENTS', 16);
const ONLY = process.env['FAULTS_ONLY'];
const ROWS = rowIds(process.env['FAULTS_ROWS']);

function rowIds(raw: string | undefined): string[] | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const ids = raw.split(',').map((id) => id.trim()).filter(Boolean);
  const unknown = ids.filter((id) => !FAULT_ROW_IDS.includes(id));
  if (unknown.length) throw new Error(`FAULTS_ROWS: expected row ids among ${FAULT_ROW_IDS.join(', ')}, got ${unknown.join(', ')}`);
  return ids;
}

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
  return result.ok ? 'PASS' : 'FAIL';
}

/** What the table itself must hold: at least 60 rows, each id once. */
function hostileTableProblems(): string[] {
  const problems: string[] = [];
  if (HOSTILE_ROWS.length < 60) problems.push(`expected at least 60 hostile rows, got ${HOSTILE_ROWS.length}`);
  const ids = HOSTILE_ROWS.map((r) => r.id);
  const repeated = ids.filter((id, i) => ids.indexOf(id) !== i);
  if (repeated.length) problems.push(`hostile row ids used twice: ${repeated.join(', ')}`);
  return problems;
}

/** A bystander that got fewer answers than this was not really served alongside the table. */
const BYSTANDER_MIN_ANSWERS = 20;

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
  const failed = results.filter((r) => !r.ok);
  const problems = hostileTableProblems();
  if (bystander.ok <= BYSTANDER_MIN_ANSWERS) problems.push(`the well-behaved client got only ${bystander.ok} answers (expected more than ${BYSTANDER_MIN_ANSWERS})`);
  out.push('## Hostile input', '');
  out.push(
    `${results.length} raw requests, 8 connections at a time, ${seconds.toFixed(1)} s: ${passed} pass, ${failed.length} fail. ` +
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
  if (bystander.wrong.length) out.push(`Well-behaved client, wrong answers: ${bystander.wrong.slice(0, 5).join('; ')}`, '');
  for (const problem of problems) out.push(`Problem: ${problem}`, '');
  return failed.length === 0 && bystander.wrong.length === 0 && problems.length === 0;
}

async function faults(out: string[]): Promise<boolean> {
  const origin = await startFaultOrigin();
  progress(`faults: ${ROWS ? ROWS.join(', ') : 'origin faults, then a pathological pattern, Redis SIGKILL and a worker SIGKILL'} under ${LOAD_SECONDS} s of load from ${CLIENTS} clients`);
  const started = performance.now();
  let rows: FaultResult[];
  try {
    rows = await runFaultTable(origin, { loadSeconds: LOAD_SECONDS, clients: CLIENTS }, ROWS);
  } finally {
    await origin.close();
  }
  out.push('## Faults', '');
  out.push(`${rows.length} rows, ${((performance.now() - started) / 1000).toFixed(1)} s.`, '');
  out.push(table(['Row', 'Fault', 'Result', 'What happened'], rows.map((r) => [`\`${r.id}\``, cell(r.what), r.ok ? 'PASS' : 'FAIL', cell(r.detail)]), [false, false, false, false]), '');
  // Every row of the table ran (or exactly those asked for), in order: none lost on the way.
  const ran = rows.map((r) => r.id).join(',');
  const wanted = FAULT_ROW_IDS.filter((id) => !ROWS || ROWS.includes(id)).join(',');
  if (ran !== wanted) out.push(`Problem: expected the rows ${wanted}, ran ${ran}`, '');
  return ran === wanted && rows.every((r) => r.ok);
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
