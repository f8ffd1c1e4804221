// The access log on the wire: one JSON line per request with the fields the README lists, for a
// miss, a hit, a 304 revalidation, a strip policy dropping the client's If-None-Match, an error
// and a CONNECT tunnel; secrets in URLs redacted; without --access-log only failed requests get a
// line. The CLI part: --log-file, then logrotate's move-then-SIGHUP writes to the new file.
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import type { ProxyConfig } from '../../src/index.js';
import { createLogger } from '../../src/observe/log.js';
import { viaProxy } from '../helpers/client.js';
import { freePort, runCli, startCli } from '../helpers/cli.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { fakeClock, startProxy, type TestProxy } from '../helpers/proxy.js';
import { closedPort, eventually } from '../helpers/respond.js';

const BODY = 'access log body\n';
let origin: Origin;
const proxies: TestProxy[] = [];

type Line = Record<string, unknown>;
const parse = (lines: string[]): Line[] => lines.map((line) => JSON.parse(line) as Line);
const requestLines = (lines: string[], path: string): Line[] => parse(lines).filter((r) => r['msg'] === 'request' && String(r['url']).includes(path));

async function proxyWith(overrides: Partial<ProxyConfig> = {}, options: { now?: () => number; accessLog?: boolean } = {}) {
  const lines: string[] = [];
  const logger = createLogger('info', (line) => void lines.push(line), { accessLog: options.accessLog ?? true });
  const proxy = await startProxy(overrides, { logger, ...(options.now && { now: options.now }) });
  proxies.push(proxy);
  return { proxy, lines };
}

beforeAll(async () => {
  origin = await startOrigin({
    '*': (req, res) => {
      const headers = { etag: '"a1"', 'cache-control': 'max-age=10' };
      if (req.headers['if-none-match'] === '"a1"') return void res.writeHead(304, headers).end();
      res.writeHead(200, { ...headers, 'content-type': 'text/plain', 'content-length': String(BODY.length) }).end(BODY);
    },
  });
});
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.stop()));
});
afterAll(async () => {
  await origin.close();
});

describe('the access log (one JSON line per request)', () => {
  it('writes a miss, a hit and a 304 revalidation with client, URL, status, outcome, policy, upstream time and bytes', async () => {
    const clock = fakeClock();
    const { proxy, lines } = await proxyWith({}, { now: clock.now });
    const url = `${origin.url}/page-a`;
    const as = { 'x-proxy-client': 'crawler-1' };
    expect((await viaProxy(proxy.url, url, { headers: as })).status).toBe(200);
    expect((await viaProxy(proxy.url, url, { headers: as })).status).toBe(200);
    clock.advance(20);
    expect((await viaProxy(proxy.url, url, { headers: as })).status).toBe(200);
    await eventually(() => requestLines(lines, '/page-a').length === 3);

    const [miss, hit, revalidated] = requestLines(lines, '/page-a');
    for (const line of [miss, hit, revalidated]) {
      expect(line).toMatchObject({ level: 'info', msg: 'request', client: 'crawler-1', method: 'GET', url, status: 200, policy: 'pass' });
      expect(typeof line!['time']).toBe('string');
      // Head and body as written to the client's connection.
      expect(line!['bytes']).toBeGreaterThan(BODY.length);
      expect(line!['bytes']).toBeLessThan(BODY.length + 1000);
    }
    expect(miss).toMatchObject({ outcome: 'miss', stored: true });
    expect(miss!['cache']).toContain('fwd=uri-miss');
    expect(miss!['upstreamMs']).toBeGreaterThanOrEqual(0);
    expect(hit).toMatchObject({ outcome: 'hit' });
    expect(hit!['cache']).toContain('hit');
    expect(hit).not.toHaveProperty('upstreamMs'); // no origin request on its behalf
    expect(revalidated).toMatchObject({ outcome: 'revalidated-304' });
    expect(revalidated!['cache']).toContain('fwd-status=304');
    expect(revalidated!['upstreamMs']).toBeGreaterThanOrEqual(0);
    expect(origin.requestsTo('/page-a')).toHaveLength(2);
  });

  it('names the policy applied and the validators it dropped (strip removes If-None-Match)', async () => {
    const { proxy, lines } = await proxyWith({
      policies: { default: {}, clients: [{ match: 'scraper-*', validators: 'strip' }], hosts: [] },
    });
    const url = `${origin.url}/page-strip`;
    await viaProxy(proxy.url, url, { headers: { 'x-proxy-client': 'warm' } });
    const res = await viaProxy(proxy.url, url, { headers: { 'x-proxy-client': 'scraper-7', 'if-none-match': '"a1"' } });
    expect(res.status).toBe(200); // the stale validator was not honoured: the whole body
    expect(res.body.toString()).toBe(BODY);
    await eventually(() => requestLines(lines, '/page-strip').length === 2);
    const stripped = requestLines(lines, '/page-strip')[1]!;
    expect(stripped).toMatchObject({ client: 'scraper-7', policy: 'strip', dropped: 'if-none-match', outcome: 'hit', status: 200 });
  });

  it('redacts credentials in the URL as every log line does', async () => {
    const { proxy, lines } = await proxyWith();
    await viaProxy(proxy.url, `${origin.url}/page-secret?id=7&access_token=hunter2`);
    await eventually(() => requestLines(lines, '/page-secret').length === 1);
    expect(requestLines(lines, '/page-secret')[0]!['url']).toBe(`${origin.url}/page-secret?id=7&access_token=***`);
    expect(lines.join('')).not.toContain('hunter2');
  });

  it('writes an error as a warn line with its code, and a CONNECT tunnel as a line of its own', async () => {
    const { proxy, lines } = await proxyWith({ connectPorts: [[1, 65535]] });
    const port = await closedPort();
    expect((await viaProxy(proxy.url, `http://127.0.0.1:${port}/gone`)).status).toBe(502);
    await connectThrough(proxy.port, `127.0.0.1:${origin.port}`);
    await eventually(() => requestLines(lines, '/gone').length === 1 && parse(lines).some((r) => r['method'] === 'CONNECT'));
    expect(requestLines(lines, '/gone')[0]).toMatchObject({ level: 'warn', status: 502, outcome: 'error', error: 'upstream_refused' });
    expect(parse(lines).find((r) => r['method'] === 'CONNECT')).toMatchObject({ msg: 'request', status: 200, url: `127.0.0.1:${origin.port}` });
  });

  it('is off by default: without --access-log a served request writes no line, a failed one still does', async () => {
    const { proxy, lines } = await proxyWith({}, { accessLog: false });
    await viaProxy(proxy.url, `${origin.url}/page-quiet`);
    expect((await viaProxy(proxy.url, `http://127.0.0.1:${await closedPort()}/gone-quiet`)).status).toBe(502);
    await eventually(() => requestLines(lines, '/gone-quiet').length === 1);
    expect(requestLines(lines, '/page-quiet')).toEqual([]);
    expect(requestLines(lines, '/gone-quiet')[0]).toMatchObject({ level: 'warn', status: 502 });
  });
});

/** CONNECT, then close once the tunnel is established. */
function connectThrough(proxyPort: number, authority: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(proxyPort, '127.0.0.1', () => socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`));
    socket.once('data', (chunk: Buffer) => {
      expect(chunk.toString()).toMatch(/^HTTP\/1\.1 200/);
      socket.end();
      socket.once('close', () => resolve());
    });
    socket.on('error', reject);
  });
}

describe('--log-file (CLI)', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('appends the access log to the file; after logrotate moves it and sends SIGHUP, new lines go to a new file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'etag-proxy-log-'));
    dirs.push(dir);
    const file = join(dir, 'logs', 'access.log'); // the directory is created
    const port = await freePort();
    const cli = startCli(['--port', String(port), '--access-log', '--log-file', file]);
    try {
      const proxyUrl = `http://127.0.0.1:${port}`;
      await eventually(() => existsSync(file) && readFileSync(file, 'utf8').includes('etag-proxy listening on'), 10_000);
      expect(cli.output()).toBe(''); // nothing on stdout or stderr
      await viaProxy(proxyUrl, `${origin.url}/rotate-before`);
      await eventually(() => readFileSync(file, 'utf8').includes('/rotate-before'), 10_000);

      renameSync(file, `${file}.1`); // logrotate: move, then HUP
      await viaProxy(proxyUrl, `${origin.url}/rotate-between`); // still written to the moved file
      cli.child.kill('SIGHUP');
      await eventually(() => existsSync(file), 10_000);
      await viaProxy(proxyUrl, `${origin.url}/rotate-after`);
      await eventually(() => readFileSync(file, 'utf8').includes('/rotate-after'), 10_000);

      const before = readFileSync(`${file}.1`, 'utf8');
      const after = readFileSync(file, 'utf8');
      expect(before).toContain('/rotate-before');
      expect(after).not.toContain('/rotate-before');
      expect(before + after).toContain('/rotate-between');
      expect(before).not.toContain('/rotate-after');
      expect(cli.child.exitCode).toBeNull(); // SIGHUP reopened the log; it did not stop the proxy
      for (const line of (before + after).trim().split('\n')) expect(() => JSON.parse(line) as unknown).not.toThrow();
    } finally {
      await cli.stop();
    }
    // Lines still buffered at exit are written: the shutdown lines are in the new file.
    expect(readFileSync(file, 'utf8')).toContain('"msg":"stopped"');
  });

  it('refuses a --log-file it cannot open, with exit code 2 and the reason', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'etag-proxy-log-'));
    dirs.push(dir);
    const { code, stderr } = await runCli(['--port', String(await freePort()), '--log-file', dir]); // a directory
    expect(code).toBe(2);
    expect(stderr).toMatch(/^etag-proxy: --log-file: cannot open .* for appending: EISDIR\n$/);
  });
});

describe('access log options', () => {
  it('are off and stdout by default, and set from flags or the config file (accessLog, logFile)', () => {
    expect(loadConfig({}).accessLog).toBe(false);
    expect(loadConfig({}).logFile).toBeUndefined();
    expect(loadConfig({ 'access-log': true, 'log-file': '/var/log/etag-proxy.log' })).toMatchObject({ accessLog: true, logFile: '/var/log/etag-proxy.log' });
    const dir = mkdtempSync(join(tmpdir(), 'etag-proxy-log-config-'));
    try {
      const file = join(dir, 'config.yaml');
      writeFileSync(file, 'accessLog: true\nlogFile: /tmp/x/access.log\n');
      expect(loadConfig({ config: file })).toMatchObject({ accessLog: true, logFile: '/tmp/x/access.log' });
      writeFileSync(file, 'accessLog: loud\n');
      expect(() => loadConfig({ config: file })).toThrow(/^accessLog: expected/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
