// A real browser through the intercepting proxy: headless Chromium (Debian's `chromium`, driven
// by playwright-core, no browser download) trusts the proxy's CA through an NSS database in a
// temporary HOME (certutil, from `libnss3-tools`), loads an HTTPS page of a local origin twice in
// two fresh browser contexts (so its own cache cannot answer), and the second load is a proxy hit.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { makeTestCa, type TestCa } from '../helpers/tls.js';
import { chromiumPath, INSTALL, which } from './chromium.js';

describe('headless Chromium through the intercepting proxy', () => {
  let proxyCa: TestCa;
  let originCa: TestCa;
  let origin: Origin;
  let proxy: TestProxy;
  let browser: Browser;
  let home: string;

  beforeAll(async () => {
    const executablePath = chromiumPath();
    if (!which('certutil')) throw new Error(`certutil was not found (install it: ${INSTALL})`);
    proxyCa = await makeTestCa('browser-proxy-ca');
    originCa = await makeTestCa('browser-origin-ca');
    origin = await startOrigin(
      {
        '/page': (_req, res) =>
          void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'max-age=300', etag: '"page-1"' }).end('<!doctype html><title>cached over TLS</title><h1>hello</h1>'),
      },
      { tls: await originCa.issue(['localhost']) },
    );
    proxy = await startProxy({ intercept: true, caDir: proxyCa.dir, upstreamCa: originCa.certFile, connectPorts: [[1, 65535]] });

    // Chromium on Linux takes locally added roots from the NSS database in $HOME/.pki/nssdb.
    home = mkdtempSync(join(tmpdir(), 'etag-proxy-browser-home-'));
    const nssdb = join(home, '.pki', 'nssdb');
    mkdirSync(nssdb, { recursive: true });
    execFileSync('certutil', ['-d', `sql:${nssdb}`, '-N', '--empty-password']);
    execFileSync('certutil', ['-d', `sql:${nssdb}`, '-A', '-t', 'C,,', '-n', 'etag-proxy test CA', '-i', proxyCa.certFile]);

    browser = await chromium.launch({
      executablePath,
      headless: true,
      env: { ...process.env, HOME: home },
      // <-loopback>: Chromium sends even localhost through the proxy (it bypasses loopback by default).
      args: [`--proxy-server=${proxy.url}`, '--proxy-bypass-list=<-loopback>', '--no-sandbox', '--disable-gpu', '--no-first-run'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await proxy?.stop();
    await origin?.close();
    proxyCa?.remove();
    originCa?.remove();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it('loads an HTTPS page twice; the second load is served from the proxy\'s cache with one origin request', async () => {
    const url = `https://localhost:${origin.port}/page`;
    const statuses: Array<string | undefined> = [];
    for (let i = 0; i < 2; i++) {
      // A fresh context each time: its own HTTP cache is empty, so the request reaches the proxy.
      const context = await browser.newContext();
      const page = await context.newPage();
      const response = await page.goto(url);
      expect(response?.status()).toBe(200);
      expect(await page.title()).toBe('cached over TLS');
      statuses.push((await response?.allHeaders())?.['cache-status']);
      await context.close();
    }

    expect(statuses[0]).toMatch(/^etag-proxy; fwd=uri-miss/);
    expect(statuses[1]).toMatch(/^etag-proxy; hit/);
    expect(origin.requestsTo('/page')).toHaveLength(1);
  });
});
