// `etag-proxy stats` and the aggregated view with --workers: two worker processes on one port
// and one admin port, each answering /metrics and /stats with the sum over both (prom-client's
// AggregatorRegistry in the primary), and the CLI printing it as a table.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runCli, startCli, type RunningCli } from '../helpers/cli.js';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { parsePrometheusText, sampleValue } from '../helpers/prometheus.js';
import { cleanNamespace, redisForTests, testNamespace } from '../helpers/redis.js';
import { sleep } from '../helpers/respond.js';

let redis: { url: string; stop(): Promise<void> };
let origin: Origin;
let cli: RunningCli;
let adminUrl: string;
const namespace = testNamespace('stats-cli');
const token = 'stats-token';

beforeAll(async () => {
  redis = await redisForTests();
  origin = await startOrigin({
    '/s': (_q, res) => void res.writeHead(200, { 'cache-control': 'max-age=60', etag: '"s1"', 'content-length': '10' }).end('0123456789'),
  });
  const port = await freePort();
  const adminPort = await freePort();
  adminUrl = `http://127.0.0.1:${adminPort}`;
  cli = startCli(['--port', String(port), '--workers', '2', '--store', redis.url, '--namespace', namespace, '--admin-port', String(adminPort), '--admin-token', token]);
  await cli.waitFor('listening on', 2, 20_000);
  // Fresh connections each time, so the kernel spreads them over both workers.
  const get = () => viaProxy(`http://127.0.0.1:${port}`, `${origin.url}/s`, { agent: undefined, headers: { connection: 'close' } });
  await get();
  // The entry is written to Redis as the body ends: give it a moment before the other worker asks.
  await sleep(300);
  for (let i = 0; i < 9; i++) await get();
}, 40_000);
afterAll(async () => {
  await cli?.stop();
  await origin?.close();
  await cleanNamespace(redis.url, namespace);
  await redis.stop();
});

describe('etag-proxy stats, and /metrics with --workers', () => {
  it('every worker answers /metrics with the sum over all workers', async () => {
    expect(origin.requestsTo('/s')).toHaveLength(1);
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${adminUrl}/metrics`, { headers: { authorization: `Bearer ${token}`, connection: 'close' } });
      expect(res.status).toBe(200);
      const families = parsePrometheusText(await res.text());
      expect(sampleValue(families, 'etag_proxy_requests_total', { outcome: 'miss' })).toBe(1);
      expect(sampleValue(families, 'etag_proxy_requests_total', { outcome: 'hit' })).toBe(9);
      expect(sampleValue(families, 'etag_proxy_cache_served_bytes_total')).toBe(90);
    }
  });

  it('prints hit ratio, bandwidth saved, origin requests avoided and each outcome', async () => {
    const res = await runCli(['stats', '--admin-url', adminUrl, '--admin-token', token]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^hit ratio\s+90\.0%$/m);
    expect(res.stdout).toMatch(/^bandwidth saved\s+90 B$/m);
    expect(res.stdout).toMatch(/^origin requests avoided\s+9$/m);
    expect(res.stdout).toMatch(/^ {2}hit\s+9$/m);
    expect(res.stdout).toMatch(/^ {2}miss\s+1$/m);
    expect(res.stdout).toMatch(/^workers\s+2$/m);
    const json = await runCli(['stats', '--json', '--admin-url', adminUrl], { ETAG_PROXY_ADMIN_TOKEN: token });
    expect(JSON.parse(json.stdout)).toMatchObject({ requests: 10, processes: 2, byOutcome: { hit: 9, miss: 1 } });
  });

  it('without the token: exit 1 and the 401 on stderr', async () => {
    const res = await runCli(['stats', '--admin-url', adminUrl]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^etag-proxy stats: GET \/stats: 401 /);
  });
});
