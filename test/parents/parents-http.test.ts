// Parent proxies on the wire, step one: http:// requests go to a real third-party parent
// (proxy-chain) in absolute form with the parent's Proxy-Authorization; the client's own
// Proxy-Authorization goes nowhere; parent credentials reach that parent only and appear in no
// log line; an entry fetched through one parent is revalidated through another with the proxy's
// own stored ETag (issue 19, "Rotation").
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { emptyParents, parseParents, type ParentsConfig } from '../../src/parents/config.js';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startParent, type TestParent } from '../helpers/parent.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';

const PARENT_USER = 'pool-user';
const PARENT_PASSWORD = 'parent-s3cret-pw';
const CLIENT_AUTH = `Basic ${Buffer.from('scraper-7:client-s3cret').toString('base64')}`;

function pool(urls: string[], extra: Record<string, unknown> = {}): ParentsConfig {
  return parseParents('parents', { pools: { paid: { parents: urls, ...extra } } }, emptyParents());
}

const withAuth = (parent: TestParent) => parent.url.replace('://', `://${PARENT_USER}:${PARENT_PASSWORD}@`);

describe('http:// requests through a parent proxy (proxy-chain)', () => {
  let origin: Origin;
  let parents: TestParent[] = [];
  let proxy: TestProxy;

  afterEach(async () => {
    await proxy?.stop();
    await Promise.all(parents.map((p) => p.close()));
    await origin?.close();
    parents = [];
  });

  it('sends the request to the parent in absolute form with its Proxy-Authorization, and never the client\'s (RFC 9112 §3.2.2; invariant 7)', async () => {
    origin = await startOrigin({ '/page': (_req, res) => void res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain' }).end('hello through a parent') });
    parents = [await startParent({ user: PARENT_USER, password: PARENT_PASSWORD })];
    proxy = await startProxy({ parents: pool([withAuth(parents[0]!)]), accessLog: true });

    const first = await viaProxy(proxy.url, `${origin.url}/page`, { headers: { 'proxy-authorization': CLIENT_AUTH } });
    expect(first.status).toBe(200);
    expect(first.text).toBe('hello through a parent');
    const second = await viaProxy(proxy.url, `${origin.url}/page`, { headers: { 'proxy-authorization': CLIENT_AUTH } });
    expect(second.text).toBe('hello through a parent');
    expect(second.headers['cache-status']).toMatch(/hit/);

    // One trip through the parent, one at the origin: the hit cost the pool nothing.
    expect(parents[0]!.requests).toHaveLength(1);
    expect(origin.requests).toHaveLength(1);
    const atParent = parents[0]!.requests[0]!;
    expect(atParent.isHttp).toBe(true);
    expect(atParent.url).toBe(`${origin.url}/page`);
    expect(atParent.username).toBe(PARENT_USER);
    expect(atParent.password).toBe(PARENT_PASSWORD);
    expect(atParent.headers['proxy-authorization']).not.toBe(CLIENT_AUTH);
    // Neither the client's nor the parent's credentials reach the origin.
    expect(origin.requests[0]!.headers['proxy-authorization']).toBeUndefined();
    expect(JSON.stringify(origin.requests[0]!.headers)).not.toContain(PARENT_PASSWORD);

    // The access log names the pool and the parent, without credentials.
    const line = proxy.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['url'] === `${origin.url}/page` && l['pool'] !== undefined);
    expect(line).toMatchObject({ pool: 'paid', parent: parents[0]!.url });
    expect(proxy.logs.join('\n')).not.toContain(PARENT_PASSWORD);
    expect(proxy.logs.join('\n')).not.toContain(Buffer.from(`${PARENT_USER}:${PARENT_PASSWORD}`).toString('base64'));
  });

  it('revalidates an entry fetched through one parent through the other with the stored ETag, and the client gets 200 with the body (rotation)', async () => {
    const etag = '"v1"';
    origin = await startOrigin({
      '/rotating': (req, res) => {
        if (req.headers['if-none-match'] === etag) return void res.writeHead(304, { etag, 'cache-control': 'no-cache' }).end();
        res.writeHead(200, { etag, 'cache-control': 'no-cache', 'content-type': 'text/plain' }).end('the same page from any exit');
      },
    });
    parents = [await startParent({ user: PARENT_USER, password: PARENT_PASSWORD }), await startParent({ user: PARENT_USER, password: PARENT_PASSWORD })];
    proxy = await startProxy({ parents: pool(parents.map(withAuth)) });

    const first = await viaProxy(proxy.url, `${origin.url}/rotating`);
    const second = await viaProxy(proxy.url, `${origin.url}/rotating`);

    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(second.text).toBe('the same page from any exit');
    expect(second.headers['cache-status']).toMatch(/fwd-status=304/);
    expect(parents.map((p) => p.requests.length)).toEqual([1, 1]);
    expect(origin.requests).toHaveLength(2);
    expect(origin.requests[0]!.headers['if-none-match']).toBeUndefined();
    expect(origin.requests[1]!.headers['if-none-match']).toBe(etag);
  });

  it('takes the --parent password from a file or the environment, refuses one in the flag, and redacts it in errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'etag-proxy-parent-'));
    const file = join(dir, 'password');
    writeFileSync(file, `${PARENT_PASSWORD}\n`);
    const fromFile = loadConfig({ parent: ['http://u@127.0.0.1:3128', 'http://u@127.0.0.2:3128'], 'parent-password-file': file }, {});
    expect(fromFile.parents.default).toBe('default');
    expect(fromFile.parents.pools[0]!.parents.map((p) => [p.label, p.username, p.password])).toEqual([
      ['http://127.0.0.1:3128', 'u', PARENT_PASSWORD],
      ['http://127.0.0.2:3128', 'u', PARENT_PASSWORD],
    ]);
    const fromEnv = loadConfig({ parent: ['http://u@127.0.0.1:3128'] }, { ETAG_PROXY_PARENT_PASSWORD: 'from-env' });
    expect(fromEnv.parents.pools[0]!.parents[0]!.password).toBe('from-env');

    expect(() => loadConfig({ parent: [`http://u:${PARENT_PASSWORD}@127.0.0.1:3128`] }, {})).toThrow(/visible in ps/);
    let message = '';
    try {
      parseParents('parents', { pools: { paid: { parents: [`ftp://u:${PARENT_PASSWORD}@host:21`] } } }, emptyParents());
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      message = (error as Error).message;
    }
    expect(message).toMatch(/^parents\.pools\.paid\.parents\[0\]: expected a URL starting with http:\/\//);
    expect(message).not.toContain(PARENT_PASSWORD);
    expect(() => parseParents('parents', { pools: { paid: { parents: ['http://h:1'] } }, default: 'nope' }, emptyParents())).toThrow(/parents\.default: expected "direct" or a pool name \(paid\), got "nope"/);
  });
});
