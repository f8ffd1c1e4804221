// The live status page in a real browser: headless Chromium opens the admin listener's `/` with
// the token once (exchanged for a cookie), while a script sends misses, hits and an ETag change
// through the proxy. The page must show the hit ratio, the top host, a rule in force and the
// change arriving live over the change stream, with an attacker's markup shown as text. The
// screenshot it takes is the one docs/guide/deploy-and-monitoring.md shows (docs/status-page.png).
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from '../../src/admin/admin-server.js';
import { silentLogger } from '../../src/observe/log.js';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { sleep } from '../helpers/respond.js';
import { chromiumPath } from './chromium.js';

const TOKEN = 'status-page-test-token';
const SCREENSHOT = fileURLToPath(new URL('../../docs/status-page.png', import.meta.url));
/** A client id no page should ever run: it must show as text. */
const HOSTILE_CLIENT = '<script>window.pwned=1</script>';

// Page-side checks, typed by hand: the tests are type-checked without the DOM library, and the
// page's CSP forbids evaluating strings (so no string predicates either).
interface PageDocument {
  querySelector(selector: string): { textContent: string | null; complete?: boolean; naturalWidth?: number } | null;
}
// Each runs in the page on its own (no closure travels), so each reads `document` itself.
const textIs = ([selector, expected]: [string, string]) => (globalThis as unknown as { document: PageDocument }).document.querySelector(selector)?.textContent === expected;
const chartDrawn = () => {
  const chart = (globalThis as unknown as { document: PageDocument }).document.querySelector('#chart');
  return chart !== null && chart.complete === true && (chart.naturalWidth ?? 0) > 0;
};

describe('the live status page (GET / on the admin listener) in headless Chromium', () => {
  let news: Origin;
  let shop: Origin;
  let proxy: TestProxy;
  let admin: AdminServer;
  let browser: Browser;
  let feedVersion = 1;

  beforeAll(async () => {
    const executablePath = chromiumPath();
    news = await startOrigin({
      '/feed': (req, res) => {
        const etag = `"feed-${feedVersion}"`;
        const headers = { etag, 'cache-control': 'max-age=0, must-revalidate', 'content-type': 'application/rss+xml' };
        if (req.headers['if-none-match'] === etag) return void res.writeHead(304, headers).end();
        res.writeHead(200, headers).end(`<rss><channel><title>feed ${feedVersion}</title></channel></rss>`);
      },
      '*': (_req, res) => void res.writeHead(200, { 'cache-control': 'max-age=300', etag: '"a"', 'content-type': 'text/html' }).end('<p>article</p>'.repeat(200)),
    });
    shop = await startOrigin({ '*': (_req, res) => void res.writeHead(200, { 'cache-control': 'max-age=300', 'content-type': 'text/plain' }).end('item') });
    proxy = await startProxy({
      metricsTopHosts: 10,
      policies: { default: { validators: 'pass' }, clients: [{ match: 'scraper-*', validators: 'strip' }], hosts: [{ match: '*.example.com', requestCacheControl: 'ignore' }] },
    });
    admin = await startAdminServer(proxy.proxy, { port: 0, host: '127.0.0.1', token: TOKEN }, silentLogger);
    browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
  });

  afterAll(async () => {
    await browser?.close();
    await admin?.close();
    await proxy?.stop();
    await news?.close();
    await shop?.close();
  });

  const get = (origin: Origin, path: string, client = 'crawler-1') => viaProxy(proxy.url, `${origin.url}${path}`, { headers: { 'x-proxy-client': client } });

  /** Scripted traffic: 4 misses then 12 hits on news, 1 miss then 3 hits on shop, the feed stored once. */
  async function scriptedTraffic(): Promise<void> {
    for (let round = 0; round < 4; round++) {
      for (let article = 0; article < 4; article++) await get(news, `/article/${article}`);
      if (round > 0) await sleep(700); // spread over a few seconds for the chart
    }
    for (let i = 0; i < 4; i++) {
      await get(shop, '/item/1', 'scraper-2');
      await sleep(300);
    }
    await get(news, '/feed');
  }

  const text = (page: Page, selector: string) => page.locator(selector).innerText();

  it('shows the hit ratio, the top host, the rules in force, and an ETag change arriving live', async () => {
    await scriptedTraffic();
    // lookups: 16 news + 4 shop + 1 feed = 21; from cache: 12 + 3 = 15 → 71.4 %
    const stats = (await (await fetch(`${admin.url}/stats`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { hitRatio: number };
    expect(stats.hitRatio).toBeCloseTo(15 / 21, 3);

    const context = await browser.newContext({ viewport: { width: 1040, height: 840 } });
    const page = await context.newPage();
    // Without the token: refused. With it once: a cookie, and the address bar loses the token.
    expect((await page.goto(`${admin.url}/`))?.status()).toBe(401);
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('console', (message) => void (message.type() === 'error' && !message.text().startsWith('Failed to load resource') && errors.push(message.text())));
    page.on('response', (res) => void (res.status() >= 400 && errors.push(`${res.status()} ${res.url()}`)));
    const response = await page.goto(`${admin.url}/?token=${TOKEN}`);
    expect(response?.status()).toBe(200);
    expect(page.url()).toBe(`${admin.url}/`);
    expect(await page.title()).toBe('etag-proxy status');

    expect(await text(page, '[data-stat="hitRatio"]')).toBe('71.4%');
    expect(await text(page, '[data-stat="originRequestsAvoided"]')).toBe('15');
    const hosts = page.locator('#hosts tr');
    expect(await hosts.first().innerText()).toBe(`${news.host}\t17`); // 16 articles and the feed
    expect(await text(page, '#hosts')).toContain(shop.host);
    expect(await text(page, '#rules')).toContain('client scraper-*\tvalidators=strip');
    expect(await text(page, '#rules')).toContain('host *.example.com\trequestCacheControl=ignore');

    // The chart is an image the page reloads: it draws.
    await page.waitForFunction(chartDrawn);

    // The change stream is open; a new ETag on the feed shows up without a reload.
    await page.waitForFunction(textIs, ['#live', '(live)'] as [string, string], { timeout: 15_000 });
    feedVersion = 2;
    const changed = await get(news, '/feed', HOSTILE_CLIENT);
    expect(changed.text).toContain('feed 2');
    const row = page.locator('#changes tr', { hasText: `${news.url}/feed` });
    await row.first().waitFor({ timeout: 15_000 });
    const cells = await row.first().locator('td').allInnerTexts();
    expect(cells[2]).toBe('"feed-1" → "feed-2"');
    expect(cells[4]).toBe(HOSTILE_CLIENT); // shown as text, never run
    expect(await page.evaluate(() => typeof (globalThis as { pwned?: unknown }).pwned)).toBe('undefined');

    // The numbers update themselves: the revalidation that found the change is counted.
    await page.waitForFunction(textIs, ['[data-stat="requests"]', '22'] as [string, string], { timeout: 15_000 });
    expect(await text(page, '[data-stat="hitRatio"]')).toBe('68.2%'); // 15 / 22

    // A reload renders the change on the server too, escaped the same way.
    await page.reload();
    expect(await page.locator('#changes tr').first().locator('td').nth(4).innerText()).toBe(HOSTILE_CLIENT);
    await page.waitForFunction(chartDrawn);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(errors).toEqual([]); // no CSP violation, no script error
    await context.close();
  });
});
