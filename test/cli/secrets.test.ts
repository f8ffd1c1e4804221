// STYLE.md invariant 4 on the running CLI: an admin token from --admin-token-file and a Redis
// password from ETAG_PROXY_STORE_PASSWORD or --store-password-file work, and appear neither in
// the process's command line (`ps`) nor in its output; secret query values are never logged.
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createClient } from '@redis/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startCli, type RunningCli } from '../helpers/cli.js';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { cleanNamespace, redisForTests, testNamespace } from '../helpers/redis.js';

let tmp: string;
let origin: Origin;
beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'etag-proxy-secrets-'));
  origin = await startOrigin({
    '*': (_req, res) => void res.writeHead(200, { 'cache-control': 'max-age=60', etag: '"s1"', 'content-type': 'text/plain' }).end('cached'),
  });
});
afterAll(async () => {
  await origin.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** What `ps` shows: the process's command line. */
const commandLine = (cli: RunningCli) => readFileSync(`/proc/${cli.child.pid}/cmdline`, 'utf8').split('\0').join(' ');

describe('--admin-token-file', () => {
  it('the admin API requires the token read from the file; the token is not in ps or the log', async () => {
    const token = `tok-${randomBytes(12).toString('hex')}`;
    const file = join(tmp, 'admin-token');
    writeFileSync(file, `${token}\n`);
    const adminPort = await freePort();
    const cli = startCli(['--port', '0', '--admin-port', String(adminPort), '--admin-token-file', file]);
    try {
      await cli.waitFor('listening on');
      const admin = `http://127.0.0.1:${adminPort}/policies`;
      expect((await fetch(admin)).status).toBe(401);
      expect((await fetch(admin, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      expect(commandLine(cli)).not.toContain(token);
      // The admin log line redacts secret query values too.
      await fetch(`${admin}?access_token=${token}&view=all`, { headers: { authorization: `Bearer ${token}` } });
      await cli.waitFor('view=all');
      expect(cli.output()).toContain('"path":"/policies?access_token=***&view=all"');
      expect(cli.output()).not.toContain(token);
    } finally {
      await cli.stop();
    }
  });
});

describe('the request log never shows secret query values', () => {
  it('token, api_key, sig … are replaced by ***; other parameters are kept as sent', async () => {
    const cli = startCli(['--port', '0', '--access-log']); // request lines are opt-in
    try {
      await cli.waitFor('listening on');
      const proxyUrl = /listening on (http:\/\/[^"]+)/.exec(cli.output())![1]!;
      const query = 'q=shoes&token=T0K3N&API_KEY=K3Y&X-Amz-Signature=S1G&page=2&client_secret=C5&sig=AB%2FC';
      expect((await viaProxy(proxyUrl, `${origin.url}/search?${query}`)).status).toBe(200);
      await cli.waitFor('/search?');
      expect(cli.output()).toContain(`"url":"${origin.url}/search?q=shoes&token=***&API_KEY=***&X-Amz-Signature=***&page=2&client_secret=***&sig=***"`);
      for (const secret of ['T0K3N', 'K3Y', 'S1G', 'C5', 'AB%2FC']) expect(cli.output()).not.toContain(secret);
    } finally {
      await cli.stop();
    }
  });
});

describe('a Redis password from the environment or a file', () => {
  let redis: { url: string; stop(): Promise<void> };
  let admin: ReturnType<typeof createClient>;
  const namespace = testNamespace('secrets');
  // An ACL user of our own, so the shared Redis (and every other test) keeps its default user.
  const user = `etag-proxy-test-${randomBytes(4).toString('hex')}`;
  const password = `pw-${randomBytes(12).toString('hex')}/+@:`;

  beforeAll(async () => {
    redis = await redisForTests();
    admin = createClient({ url: redis.url });
    admin.on('error', () => {});
    await admin.connect();
    await admin.sendCommand(['ACL', 'SETUSER', user, 'on', `>${password}`, '~*', '&*', '+@all']);
  });
  afterAll(async () => {
    await admin.sendCommand(['ACL', 'DELUSER', user]);
    admin.destroy();
    await cleanNamespace(redis.url, namespace);
    await redis.stop();
  });

  const storeUrl = () => redis.url.replace('redis://', `redis://${encodeURIComponent(user)}@`);

  async function cachesThroughRedis(cli: RunningCli, path: string): Promise<void> {
    await cli.waitFor('listening on');
    const proxyUrl = /listening on (http:\/\/[^"]+)/.exec(cli.output())![1]!;
    const before = (await admin.keys(`${namespace}:e2:*`)).length;
    expect((await viaProxy(proxyUrl, `${origin.url}${path}`)).status).toBe(200);
    // The entry reached Redis: the proxy authenticated as our user.
    expect((await admin.keys(`${namespace}:e2:*`)).length, cli.output()).toBe(before + 1);
    expect(cli.output()).not.toContain('store down');
    expect(cli.output()).not.toContain(password);
    expect(cli.output()).not.toContain(encodeURIComponent(password));
    expect(commandLine(cli)).not.toContain(password);
    expect(commandLine(cli)).not.toContain(encodeURIComponent(password));
  }

  it('ETAG_PROXY_STORE_PASSWORD', async () => {
    const cli = startCli(['--port', '0', '--store', storeUrl(), '--namespace', namespace], { ETAG_PROXY_STORE_PASSWORD: password });
    try {
      await cachesThroughRedis(cli, '/from-env');
    } finally {
      await cli.stop();
    }
  });

  it('--store-password-file', async () => {
    const file = join(tmp, 'redis-password');
    writeFileSync(file, `${password}\n`);
    const cli = startCli(['--port', '0', '--store', storeUrl(), '--namespace', namespace, '--store-password-file', file]);
    try {
      await cachesThroughRedis(cli, '/from-file');
    } finally {
      await cli.stop();
    }
  });

  it('without it the store refuses us (so the tests above did use the password)', async () => {
    const cli = startCli(['--port', '0', '--store', storeUrl(), '--namespace', namespace, '--store-timeout', '200ms']);
    try {
      await cli.waitFor('listening on');
      const proxyUrl = /listening on (http:\/\/[^"]+)/.exec(cli.output())![1]!;
      const res = await viaProxy(proxyUrl, `${origin.url}/no-password`);
      expect(res.status).toBe(200);
      expect(String(res.headers['cache-status'])).toContain('store-unavailable');
    } finally {
      await cli.stop();
    }
  });
});
