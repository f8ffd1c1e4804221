// `--workers N` on the CLI: N processes on one port sharing one Redis cache (the memory store
// under --workers: workers-memory.test.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startCli } from '../helpers/cli.js';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { cleanNamespace, redisForTests, testNamespace } from '../helpers/redis.js';

let redis: { url: string; stop(): Promise<void> };
let origin: Origin;
const namespace = testNamespace('workers');

beforeAll(async () => {
  redis = await redisForTests();
  origin = await startOrigin({
    '/w': (_q, res) => void res.writeHead(200, { 'cache-control': 'max-age=60', etag: '"w1"', 'content-type': 'text/plain' }).end('from one of the workers'),
  });
});
afterAll(async () => {
  await origin.close();
  await cleanNamespace(redis.url, namespace);
  await redis.stop();
});

describe('etag-proxy --workers', () => {
  it('starts N workers on one port that share the Redis cache', async () => {
    const port = await freePort();
    const cli = startCli(['--port', String(port), '--workers', '2', '--store', redis.url, '--namespace', namespace]);
    try {
      await cli.waitFor('listening on', 2);
      expect(cli.output()).toContain('"worker":1');
      expect(cli.output()).toContain('"worker":2');
      const proxyUrl = `http://127.0.0.1:${port}`;
      // Fresh connections each time, so the kernel spreads them over both workers.
      const responses = [];
      for (let i = 0; i < 10; i++) responses.push(await viaProxy(proxyUrl, `${origin.url}/w`, { agent: undefined, headers: { connection: 'close' } }));
      expect(responses.every((r) => r.status === 200 && r.text === 'from one of the workers')).toBe(true);
      expect(responses.slice(1).every((r) => /^etag-proxy; hit/.test(String(r.headers['cache-status'])))).toBe(true);
      expect(origin.requestsTo('/w')).toHaveLength(1);
    } finally {
      await cli.stop();
    }
  });
});
