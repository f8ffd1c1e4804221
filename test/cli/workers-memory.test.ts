// `--workers 2` with the memory store, through the CLI: each worker keeps its own cache, and the
// shared state (policies, the isolate ledger, the change history) lives in the primary, so the
// admin API, purges and the change feed behave as with Redis whichever worker answers. Every
// request opens a new connection, so node:cluster's round robin alternates between the workers;
// the log lines (`"worker":N`) say which one answered, and each test checks both did.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startCli, type RunningCli } from '../helpers/cli.js';
import { viaProxy, type ProxiedResponse } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { subscribe } from '../helpers/sse.js';

let origin: Origin;
let cli: RunningCli;
let proxyUrl: string;
let adminUrl: string;
const version = { feed: 1 };

beforeAll(async () => {
  origin = await startOrigin({
    '*': (req, res) => {
      // /feed revalidates on every request (max-age=0), so a new version is found by whichever worker asks.
      const etag = req.url === '/feed' ? `"f${version.feed}"` : `"${req.url}"`;
      const cacheControl = req.url === '/feed' ? 'max-age=0' : 'max-age=300';
      if (req.headers['if-none-match'] === etag) return void res.writeHead(304, { etag, 'cache-control': cacheControl }).end();
      res.writeHead(200, { etag, 'cache-control': cacheControl, 'content-type': 'text/plain' }).end(`body of ${req.url} v${version.feed}`);
    },
  });
  const [port, adminPort] = [await freePort(), await freePort()];
  proxyUrl = `http://127.0.0.1:${port}`;
  adminUrl = `http://127.0.0.1:${adminPort}`;
  // A generous --store-timeout: on a loaded machine a slow answer must not read as an outage here.
  cli = startCli(['--port', String(port), '--store', 'memory', '--workers', '2', '--admin-port', String(adminPort), '--log-level', 'debug', '--access-log', '--store-timeout', '2000']);
  await cli.waitFor('listening on', 2, 20_000);
});
afterAll(async () => {
  await cli?.stop();
  await origin.close();
});

/** Through the proxy on a new connection each time. */
const get = (path: string, headers: Record<string, string> = {}): Promise<ProxiedResponse> =>
  viaProxy(proxyUrl, `${origin.url}${path}`, { agent: new http.Agent({ keepAlive: false }), headers: { connection: 'close', ...headers } });

/** The admin API on a new connection each time; the body parsed as JSON. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers of several routes, read field by field
type Json = any;

function admin(method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${adminUrl}${path}`, { method, agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** Which workers wrote log lines matching `match`, from the CLI's output since `from`. */
function workersThat(match: (line: Record<string, unknown>) => boolean, from = 0): Set<number> {
  const workers = new Set<number>();
  for (const text of cli.output().slice(from).split('\n')) {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      continue; // not a log line, or one still being written
    }
    if (typeof line['worker'] === 'number' && match(line)) workers.add(line['worker']);
  }
  return workers;
}

const requestLinesFor = (path: string) => (line: Record<string, unknown>) => line['msg'] === 'request' && String(line['url']).endsWith(path);
const adminLinesFor = (path: string) => (line: Record<string, unknown>) => line['msg'] === 'admin' && String(line['path']).startsWith(path);

/** How many log lines matching `match` the CLI printed since `from`. */
function countLines(match: (line: Record<string, unknown>) => boolean, from: number): number {
  let count = 0;
  for (const text of cli.output().slice(from).split('\n')) {
    try {
      if (match(JSON.parse(text) as Record<string, unknown>)) count++;
    } catch {
      // not a log line, or one still being written
    }
  }
  return count;
}

/**
 * Send (each on a new connection) until both workers have logged a line matching `match`: at
 * least `min` sends, at most 20. The primary hands connections round-robin to the workers that
 * are free, so on a loaded machine several in a row can go to one worker.
 */
async function onBothWorkers<T>(send: () => Promise<T>, match: (line: Record<string, unknown>) => boolean, min = 4): Promise<T[]> {
  const from = cli.output().length;
  const results: T[] = [];
  while (results.length < min || workersThat(match, from).size < 2) {
    if (results.length >= 20) throw new Error(`20 requests did not reach both workers (seen: ${[...workersThat(match, from)].join(', ')})`);
    results.push(await send());
    // Its log line follows the response.
    await eventually(() => countLines(match, from) >= results.length, 2000);
  }
  return results;
}

async function eventually(check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('etag-proxy --workers 2 with the memory store', () => {
  it('keeps a cache per worker (one fill each), shows every worker\'s copy in GET /cache, and a purge removes it from both', async () => {
    const first = await onBothWorkers(() => get('/page'), requestLinesFor('/page'), 6);
    expect(first.every((r) => r.status === 200 && r.text === 'body of /page v1')).toBe(true);
    // Each worker filled its own cache once.
    const fills = origin.requestsTo('/page').length;
    expect(fills).toBe(2);
    expect(first.slice(-4).every((r) => /^etag-proxy; hit/.test(String(r.headers['cache-status'])))).toBe(true);

    const inspected = await admin('GET', `/cache?url=${encodeURIComponent(`${origin.url}/page`)}`);
    expect(inspected.status).toBe(200);
    expect(new Set(inspected.body.variants.map((v: { storedBy: string }) => v.storedBy.replace(/ \(.*/, '')))).toEqual(new Set(['worker 1', 'worker 2']));

    const purged = await admin('DELETE', `/cache?url=${encodeURIComponent(`${origin.url}/page`)}`);
    expect(purged).toEqual({ status: 200, body: { purged: 1, variants: 2 } });
    for (let i = 0; i < 2; i++) expect((await admin('GET', `/cache?url=${encodeURIComponent(`${origin.url}/page`)}`)).status).toBe(404);

    // Both workers ask the origin again: neither kept its copy.
    const again = await onBothWorkers(() => get('/page'), requestLinesFor('/page'));
    expect(again.filter((r) => /fwd=uri-miss/.test(String(r.headers['cache-status'])))).toHaveLength(2);
    expect(origin.requestsTo('/page')).toHaveLength(fills + 2);
  });

  it('purges by prefix and with PURGE across both workers, counting URLs once', async () => {
    // Alternating workers: each one gets each URL (0, 0, 1, 1).
    for (let i = 0; i < 4; i++) await get(`/dir/${i >> 1}`);
    const purged = await admin('DELETE', `/cache?prefix=${encodeURIComponent(`${origin.url}/dir/`)}`);
    expect(purged.body).toMatchObject({ purged: 2, done: true });
    const before = origin.requests.length;
    for (let i = 0; i < 4; i++) await get(`/dir/${i >> 1}`);
    expect(origin.requests.length - before).toBe(4); // every worker fetches each URL again
  });

  it('applies a policy changed through the admin API on every worker', async () => {
    await admin('PUT', '/policies/default', { validators: 'pass' });
    for (let i = 0; i < 2; i++) await get('/policy');
    const etag = '"/policy"';
    const passed = await onBothWorkers(() => get('/policy', { 'if-none-match': etag }), requestLinesFor('/policy'));
    expect(passed.every((r) => r.status === 304)).toBe(true);

    const changed = await admin('PUT', '/policies/default', { validators: 'strip' });
    expect(changed.status).toBe(200);
    // Every worker shows the new rule and acts on it (the change reaches them through the primary).
    await eventually(async () => {
      const answers = await Promise.all([admin('GET', '/policies/resolve?client=x'), admin('GET', '/policies/resolve?client=x')]);
      return answers.every((a) => a.body.validators === 'strip');
    });
    const stripped = await onBothWorkers(() => get('/policy', { 'if-none-match': etag }), requestLinesFor('/policy'));
    expect(stripped.every((r) => r.status === 200)).toBe(true);
    expect(stripped.every((r) => /detail=dropped-if-none-match/.test(String(r.headers['cache-status'])))).toBe(true);
    await admin('PUT', '/policies/default', { validators: 'pass' });
  });

  it('keeps the isolate ledger in the primary: a validator served by one worker is honoured by the other', async () => {
    expect((await admin('PUT', '/policies/clients/iso-*', { validators: 'isolate' })).status).toBe(201);
    await eventually(async () => {
      const answers = await Promise.all([admin('GET', '/policies/resolve?client=iso-a'), admin('GET', '/policies/resolve?client=iso-a')]);
      return answers.every((a) => a.body.validators === 'isolate');
    });
    // Both workers hold the entry (warmed by another client), then iso-a is served it once, by one worker.
    for (let i = 0; i < 2; i++) await get('/iso', { 'x-proxy-client': 'warmer' });
    const served = await get('/iso', { 'x-proxy-client': 'iso-a' });
    expect(served.status).toBe(200);
    const etag = String(served.headers['etag']);
    await new Promise((resolve) => setTimeout(resolve, 300)); // the ledger write follows the response

    const replays = await onBothWorkers(() => get('/iso', { 'x-proxy-client': 'iso-a', 'if-none-match': etag }), requestLinesFor('/iso'));
    expect(replays.every((r) => r.status === 304)).toBe(true);
    // Clients under isolate that were never given it get the body (and are given it now), on either worker.
    const others = [await get('/iso', { 'x-proxy-client': 'iso-b', 'if-none-match': etag }), await get('/iso', { 'x-proxy-client': 'iso-c', 'if-none-match': etag })];
    expect(others.map((r) => r.status)).toEqual([200, 200]);
    expect(others.every((r) => /detail=dropped-if-none-match/.test(String(r.headers['cache-status'])))).toBe(true);
  });

  it('shows a change found by one worker in /changes and on the SSE stream of either worker', async () => {
    for (let i = 0; i < 2; i++) await get('/feed');
    // Two streams on consecutive connections: one on each worker.
    const streams = [subscribe(`${adminUrl}/changes/stream`), subscribe(`${adminUrl}/changes/stream`)];
    for (const stream of streams) expect(await stream.ready).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 500));
    try {
      version.feed = 2;
      const from = cli.output().length;
      await get('/feed'); // one worker revalidates and finds "f2"
      await eventually(() => workersThat(requestLinesFor('/feed'), from).size === 1);
      for (const stream of streams) {
        await eventually(() => stream.events.some((e) => e.data.new.etag === '"f2"'));
      }
      const histories = await onBothWorkers(() => admin('GET', `/changes?url=${encodeURIComponent(`${origin.url}/feed`)}`), adminLinesFor('/changes?url='), 2);
      for (const history of histories) {
        expect(history.status).toBe(200);
        expect(history.body.changes.map((c: { new: { etag: string } }) => c.new.etag)).toContain('"f2"');
      }
      const fleets = await onBothWorkers(() => admin('GET', '/changes?after=0'), adminLinesFor('/changes?after='), 2);
      for (const fleet of fleets) {
        expect(fleet.body.changes.some((c: { url: string; new: { etag: string } }) => c.url === `${origin.url}/feed` && c.new.etag === '"f2"')).toBe(true);
      }
    } finally {
      for (const stream of streams) stream.close();
    }
  });
});

describe('etag-proxy --workers 2 with the memory store when the primary does not answer', () => {
  it('goes on serving (hits and misses) with validators treated as not served, logs store down once, and recovers', async () => {
    const [port, adminPort] = [await freePort(), await freePort()];
    const stalled = startCli(['--port', String(port), '--store', 'memory', '--workers', '2', '--admin-port', String(adminPort), '--validators', 'isolate', '--store-timeout', '250']);
    // One kept-alive connection: it stays with its worker while the primary (which hands out new ones) is stopped.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const through = (path: string, headers: Record<string, string> = {}) => viaProxy(`http://127.0.0.1:${port}`, `${origin.url}${path}`, { agent, headers });
    try {
      await stalled.waitFor('listening on', 2, 20_000);
      const served = await through('/stall');
      expect(served.status).toBe(200);
      const etag = String(served.headers['etag']);
      await eventually(async () => (await through('/stall', { 'if-none-match': etag })).status === 304);

      process.kill(stalled.child.pid!, 'SIGSTOP');
      const startedAt = Date.now();
      const hit = await through('/stall', { 'if-none-match': etag });
      expect(hit.status).toBe(200); // the ledger cannot be asked: the validator is dropped, the body served
      expect(String(hit.headers['cache-status'])).toMatch(/^etag-proxy; hit;.*detail=dropped-if-none-match/);
      const miss = await through('/stall-new');
      expect(miss.status).toBe(200);
      expect(miss.text).toBe('body of /stall-new v' + version.feed);
      expect(Date.now() - startedAt).toBeLessThan(5000);
      await stalled.waitFor('"msg":"store down"', 1, 5000);
      expect(stalled.output()).toContain('"store":"primary"');

      process.kill(stalled.child.pid!, 'SIGCONT');
      await eventually(async () => (await through('/stall', { 'if-none-match': etag })).status === 304, 10_000);
      await stalled.waitFor('"msg":"store up"', 1, 5000);
      expect(stalled.output().split('"msg":"store down"')).toHaveLength(2); // once
    } finally {
      if (stalled.child.pid) process.kill(stalled.child.pid, 'SIGCONT');
      agent.destroy();
      await stalled.stop();
    }
  });
});
