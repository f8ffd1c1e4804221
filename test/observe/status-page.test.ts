// The status page's wire behaviour without a browser: GET / behind the token (header, or the
// ?token= exchange for a read-only cookie), the Host check before everything, a strict CSP,
// everything attacker-controlled escaped in the HTML, the rate history the chart is drawn from,
// and the token never logged.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from '../../src/admin/admin-server.js';
import { rateChartSvg } from '../../src/admin/status-chart.js';
import { escapeHtml, formatBytes, statusPageHtml, type StatusView } from '../../src/admin/status-html.js';
import { createLogger } from '../../src/observe/log.js';
import { OUTCOMES } from '../../src/observe/counters.js';
import { RateHistory } from '../../src/observe/rate-history.js';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { eventually } from '../helpers/respond.js';

const TOKEN = 'page-token-1234';
let origin: Origin;
let feed = 1;
const running: Array<{ stop(): Promise<void> }> = [];

async function start(token: string | null = TOKEN) {
  const proxy: TestProxy = await startProxy({ metricsTopHosts: 5 });
  const adminLogs: string[] = [];
  const admin: AdminServer = await startAdminServer(proxy.proxy, { port: 0, host: '127.0.0.1', ...(token !== null && { token }) }, createLogger('info', (l) => void adminLogs.push(l)));
  running.push({ stop: () => admin.close() }, proxy);
  return { proxy, admin, adminLogs };
}

const cookieOf = (res: Response): string => (res.headers.get('set-cookie') ?? '').split(';')[0]!;

beforeAll(async () => {
  origin = await startOrigin({
    '/feed': (req, res) => {
      const etag = `"f${feed}"`;
      if (req.headers['if-none-match'] === etag) return void res.writeHead(304, { etag, 'cache-control': 'no-cache' }).end();
      res.writeHead(200, { etag, 'cache-control': 'no-cache' }).end(`feed ${feed}`);
    },
    '*': (_req, res) => void res.writeHead(200, { 'cache-control': 'max-age=60' }).end('page'),
  });
});
afterEach(async () => {
  for (const item of running.splice(0).reverse()) await item.stop();
});
afterAll(async () => {
  await origin.close();
});

describe('GET / (the status page) and its token', () => {
  it('answers 401 without the token, and the page with Authorization: Bearer', async () => {
    const { admin } = await start();
    const refused = await fetch(`${admin.url}/`);
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: string }).error).toContain('open /?token=<token> once');
    const page = await fetch(`${admin.url}/`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await page.text()).toContain('<title>etag-proxy status</title>');
  });

  it('exchanges ?token= for an HttpOnly SameSite=Strict cookie that reads but never writes, and never logs the token', async () => {
    const { admin, adminLogs } = await start();
    expect((await fetch(`${admin.url}/?token=wrong`, { redirect: 'manual' })).status).toBe(401);
    const exchange = await fetch(`${admin.url}/?token=${TOKEN}`, { redirect: 'manual' });
    expect(exchange.status).toBe(303);
    expect(exchange.headers.get('location')).toBe('/');
    const setCookie = exchange.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/^etag_proxy_admin=[\w-]+; Path=\/; HttpOnly; SameSite=Strict$/);
    expect(setCookie).not.toContain(TOKEN); // a digest of it, not the token
    const cookie = cookieOf(exchange);

    expect((await fetch(`${admin.url}/`, { headers: { cookie } })).status).toBe(200);
    expect((await fetch(`${admin.url}/stats`, { headers: { cookie } })).status).toBe(200);
    const write = await fetch(`${admin.url}/policies/default`, { method: 'PUT', headers: { cookie }, body: '{"validators":"strip"}' });
    expect(write.status).toBe(401); // the cookie is for reading
    expect((await fetch(`${admin.url}/cache?url=${encodeURIComponent(`${origin.url}/x`)}`, { method: 'DELETE', headers: { cookie } })).status).toBe(401);
    expect((await fetch(`${admin.url}/`, { headers: { cookie: 'etag_proxy_admin=forged' } })).status).toBe(401);
    await eventually(() => adminLogs.length >= 6); // every request but the /stats poll (debug)
    expect(adminLogs.join('')).not.toContain(TOKEN);
    expect(adminLogs.join('')).toContain('"path":"/?token=***"');
  });

  it('checks Host before anything (DNS rebinding): 421 even with the token in the query', async () => {
    const { admin } = await start();
    const { port } = new URL(admin.url);
    const res = await new Promise<number>((resolve, reject) => {
      import('node:http')
        .then(({ default: http }) =>
          http
            .get({ host: '127.0.0.1', port, path: `/?token=${TOKEN}`, headers: { host: `evil.example:${port}` } }, (r) => {
              r.resume();
              resolve(r.statusCode ?? 0);
            })
            .on('error', reject),
        )
        .catch(reject);
    });
    expect(res).toBe(421);
  });

  it('serves a strict Content-Security-Policy: inline script and style only with the response\'s nonce', async () => {
    const { admin } = await start(null);
    const page = await fetch(`${admin.url}/`);
    const csp = page.headers.get('content-security-policy') ?? '';
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
    expect(nonce).toBeDefined();
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    const html = await page.text();
    expect(html).toContain(`<script nonce="${nonce}">`);
    expect(html.match(/<script\b/g)).toHaveLength(1);
  });

  it('renders the numbers, the top host and a change, with a client id carrying markup shown as text', async () => {
    const { admin, proxy } = await start(null);
    const hostile = '<script>alert(1)</script>';
    await viaProxy(proxy.url, `${origin.url}/a`);
    await viaProxy(proxy.url, `${origin.url}/a`);
    await viaProxy(proxy.url, `${origin.url}/feed`);
    feed = 2;
    await viaProxy(proxy.url, `${origin.url}/feed`, { headers: { 'x-proxy-client': hostile } });
    // The change is appended from finish, after the client may have its answer.
    let html = '';
    for (let i = 0; i < 50 && !html.includes('&quot;f2&quot;'); i++) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, 100));
      html = await (await fetch(`${admin.url}/`)).text();
    }
    expect(html).toContain('&quot;f1&quot; → &quot;f2&quot;');
    expect(html).toContain(escapeHtml(hostile));
    expect(html).not.toContain(hostile);
    expect(html).toContain(`<td>${origin.host}</td><td>4</td>`);
    expect(html).toContain('<b data-stat="hitRatio">25.0%</b>'); // 1 hit of 4 lookups (/a: miss, hit; /feed: miss, revalidated-200)
  });
});

describe('the admin log', () => {
  it('logs the polls of the page and of Prometheus at debug, other admin requests at info', async () => {
    const { admin, adminLogs } = await start(null);
    for (const path of ['/stats', '/status/chart.svg', '/stats/history', '/metrics', '/', '/nowhere']) await (await fetch(`${admin.url}${path}`)).text();
    await eventually(() => adminLogs.length >= 2);
    const paths = adminLogs.map((line) => (JSON.parse(line) as { path: string }).path);
    expect(paths).toEqual(['/', '/nowhere']); // the logger is at info: debug lines are dropped
  });
});

describe('the page\'s parts', () => {
  const view = (overrides: Partial<StatusView> = {}): StatusView => ({
    stats: {
      requests: 0,
      byOutcome: Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as StatusView['stats']['byOutcome'],
      byPolicy: {},
      hitRatio: null,
      bandwidthSavedBytes: 0,
      originRequestsAvoided: 0,
      validatorsDropped: {},
      upstream: { requests: 0, byStatus: {}, receivedBytes: 0, meanResponseSeconds: null },
      store: { errors: 0, breakerOpen: false, entries: 0, bytes: 0 },
      processes: 1,
    },
    rules: { default: {}, clients: [{ match: '<img src=x onerror=alert(1)>', validators: 'strip' }], hosts: [{ match: '"><b>*.example.com', validators: 'isolate' }] },
    flags: { validators: 'pass', requestCacheControl: 'honor' },
    crawlRules: [],
    changes: [],
    changeHistory: true,
    topHostsLimit: 5,
    startedAt: 0,
    nonce: 'n0nce',
    ...overrides,
  });

  it('escapes rule globs and host names (they come from the admin API and from clients)', () => {
    const html = statusPageHtml(
      view({ stats: { ...view().stats, hosts: { '<svg onload=alert(1)>': { hit: 3 } } } }),
    );
    expect(html).not.toContain('<img src=x');
    expect(html).not.toContain('<svg onload');
    expect(html).not.toContain('"><b>');
    expect(html).toContain('client &lt;img src=x onerror=alert(1)&gt;');
    expect(html).toContain('&lt;svg onload=alert(1)&gt;');
    expect(html).toContain('host &quot;&gt;&lt;b&gt;*.example.com');
  });

  it('says how to get per-host numbers when --metrics-top-hosts is off', () => {
    expect(statusPageHtml(view({ topHostsLimit: 0 }))).toContain('start the proxy with --metrics-top-hosts N');
  });

  it('formats bytes in binary units', () => {
    expect([formatBytes(0), formatBytes(1023), formatBytes(1536), formatBytes(5 * 1024 ** 3)]).toEqual(['0 B', '1023 B', '1.5 KiB', '5.0 GiB']);
  });

  it('keeps per-second outcome counts in a bounded ring and draws them as stacked bars', async () => {
    let now = 1_000_000;
    const totals = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<(typeof OUTCOMES)[number], number>;
    const history = new RateHistory(async () => ({ ...totals }), { seconds: 5, now: () => now });
    await history.sample(); // baseline
    for (let second = 1; second <= 8; second++) {
      now += 1000;
      totals.hit += second;
      totals.miss += 1;
      await history.sample();
    }
    const json = history.toJSON();
    expect(json.points).toHaveLength(5); // bounded
    expect(json.points.map((p) => p.counts.hit)).toEqual([4, 5, 6, 7, 8]);
    expect(json.points.every((p) => p.counts.miss === 1 && p.counts.error === 0)).toBe(true);
    const svg = rateChartSvg(json, now);
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(svg.match(/<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="[\d.]+" fill="#2e9d4f"\/>/g)).toHaveLength(5 + 1); // 5 hit bars + the legend swatch
    expect(svg).toContain('>10/s</text>'); // 8 hits + 1 miss at the peak, rounded up
  });

  it('serves the history as JSON at /stats/history and the chart at /status/chart.svg', async () => {
    const { admin } = await start(null);
    const history = (await (await fetch(`${admin.url}/stats/history`)).json()) as { intervalSeconds: number; outcomes: string[]; points: unknown[] };
    expect(history.intervalSeconds).toBe(1);
    expect(history.outcomes).toEqual([...OUTCOMES]);
    expect(Array.isArray(history.points)).toBe(true);
    const chart = await fetch(`${admin.url}/status/chart.svg`);
    expect(chart.headers.get('content-type')).toBe('image/svg+xml; charset=utf-8');
    expect(await chart.text()).toContain('<title>Requests per second by outcome');
  });
});
