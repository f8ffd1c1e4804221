// RFC 9111 §4.1: a stored response with Vary is used only for requests whose nominated header
// fields match; several variants of one URL live side by side. Vary: * never matches.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import type { OriginHandler } from '../helpers/origin.js';

/** Answers with a body naming the request's Accept-Encoding, varying on it. */
const byEncoding: OriginHandler = (req, res) => {
  const encoding = req.headers['accept-encoding'] ?? 'none';
  res.writeHead(200, { 'cache-control': 'max-age=600', vary: 'Accept-Encoding', 'x-encoding': encoding }).end(`encoded as ${encoding}`);
};

describe('calculating cache keys with Vary (RFC 9111 §4.1)', () => {
  let origin: Origin;
  let proxy: TestProxy;
  const get = (path: string, headers: Record<string, string> = {}) => viaProxy(proxy.url, `${origin.url}${path}`, { headers });

  beforeAll(async () => {
    origin = await startOrigin();
    proxy = await startProxy();
  });

  afterAll(async () => {
    await proxy?.stop();
    await origin?.close();
  });

  it('stores a Vary: Accept-Encoding pair apart and serves each variant to the clients that select it (RFC 9111 §4.1)', async () => {
    origin.route('/pair', byEncoding);

    const gzip = await get('/pair', { 'accept-encoding': 'gzip' });
    const identity = await get('/pair', { 'accept-encoding': 'identity' });
    const gzipAgain = await get('/pair', { 'accept-encoding': 'gzip' });
    const identityAgain = await get('/pair', { 'accept-encoding': 'identity' });

    expect(gzip.text).toBe('encoded as gzip');
    expect(identity.text).toBe('encoded as identity');
    expect(gzipAgain.text).toBe('encoded as gzip');
    expect(gzipAgain.headers['x-encoding']).toBe('gzip');
    expect(gzipAgain.headers['vary']).toBe('Accept-Encoding');
    expect(gzipAgain.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(identityAgain.text).toBe('encoded as identity');
    expect(identityAgain.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    const seen = origin.requestsTo('/pair');
    expect(seen.map((r) => r.headers['accept-encoding'])).toEqual(['gzip', 'identity']);
  });

  it('treats a request without the nominated field as its own variant (RFC 9111 §4.1)', async () => {
    origin.route('/absent', byEncoding);

    await get('/absent', { 'accept-encoding': 'gzip' });
    const without = await get('/absent');
    const withoutAgain = await get('/absent');

    expect(without.text).toBe('encoded as none');
    expect(withoutAgain.text).toBe('encoded as none');
    expect(withoutAgain.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(origin.requestsTo('/absent')).toHaveLength(2);
  });

  it('matches an absent field only with an absent one: an empty Accept-Encoding selects another variant than none at all (RFC 9111 §4.1)', async () => {
    origin.route('/empty', byEncoding);

    const without = await get('/empty');
    const empty = await get('/empty', { 'accept-encoding': '' });
    const emptyAgain = await get('/empty', { 'accept-encoding': '' });
    const withoutAgain = await get('/empty');

    expect(without.text).toBe('encoded as none');
    expect(empty.text).toBe('encoded as ');
    expect(empty.headers['cache-status']).not.toMatch(/hit/);
    expect(emptyAgain.text).toBe('encoded as ');
    expect(emptyAgain.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(withoutAgain.text).toBe('encoded as none');
    expect(withoutAgain.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(origin.requestsTo('/empty').map((r) => r.headers['accept-encoding'])).toEqual([undefined, '']);
  });

  it('matches field values after normalising whitespace around list commas (RFC 9111 §4.1)', async () => {
    origin.route('/normalised', byEncoding);

    await get('/normalised', { 'accept-encoding': 'gzip, br' });
    const spaced = await get('/normalised', { 'accept-encoding': 'gzip,br' });

    expect(spaced.text).toBe('encoded as gzip, br');
    expect(spaced.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(origin.requestsTo('/normalised')).toHaveLength(1);
  });

  it('selects on every field Vary names (RFC 9111 §4.1)', async () => {
    origin.route('/two-fields', (req, res) => {
      const key = `${req.headers['accept-language'] ?? '-'}/${req.headers['accept'] ?? '-'}`;
      res.writeHead(200, { 'cache-control': 'max-age=600', vary: 'Accept-Language, Accept' }).end(key);
    });

    await get('/two-fields', { 'accept-language': 'en', accept: 'text/html' });
    const otherAccept = await get('/two-fields', { 'accept-language': 'en', accept: 'application/json' });
    const first = await get('/two-fields', { 'accept-language': 'en', accept: 'text/html' });

    expect(otherAccept.text).toBe('en/application/json');
    expect(first.text).toBe('en/text/html');
    expect(first.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(origin.requestsTo('/two-fields')).toHaveLength(2);
  });

  it('keeps an entry whose 304 brings a new Vary for the request the 304 answered only: another Accept-Language is not served from it (RFC 9111 §4.3.4, §4.1)', async () => {
    let first = true;
    origin.route('/vary-on-304', (req, res) => {
      const lang = req.headers['accept-language'] ?? 'none';
      if (first) {
        first = false;
        return void res.writeHead(200, { 'cache-control': 'max-age=0', etag: '"en"' }).end(`for ${lang}`);
      }
      const head = { 'cache-control': 'max-age=600', vary: 'Accept-Language', etag: `"${lang}"` };
      if (req.headers['if-none-match'] === `"${lang}"`) return void res.writeHead(304, head).end();
      res.writeHead(200, head).end(`for ${lang}`);
    });
    const as = (lang: string) => get('/vary-on-304', { 'accept-language': lang });

    await as('en');
    const revalidated = await as('en');
    const french = await as('fr');
    const englishAgain = await as('en');
    const frenchAgain = await as('fr');

    expect(revalidated.text).toBe('for en');
    expect(revalidated.headers['cache-status']).toMatch(/fwd-status=304/);
    expect(revalidated.headers['vary']).toBe('Accept-Language');
    expect(french.text).toBe('for fr');
    expect(french.headers['cache-status']).not.toMatch(/hit/);
    expect(englishAgain.text).toBe('for en');
    expect(englishAgain.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(frenchAgain.text).toBe('for fr');
    expect(frenchAgain.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(origin.requestsTo('/vary-on-304')).toHaveLength(3);
  });

  it('drops an entry whose 304 says Vary: *, answering only the request the 304 was for from it (RFC 9111 §4.3.4, §4.1)', async () => {
    let first = true;
    origin.route('/star-on-304', (req, res) => {
      if (first) {
        first = false;
        return void res.writeHead(200, { 'cache-control': 'max-age=0', etag: '"s"' }).end('stored');
      }
      if (req.headers['if-none-match'] === '"s"') return void res.writeHead(304, { 'cache-control': 'max-age=600', vary: '*', etag: '"s"' }).end();
      res.writeHead(200, { 'cache-control': 'max-age=600', vary: '*', etag: '"s"' }).end('fetched');
    });

    await get('/star-on-304');
    const revalidated = await get('/star-on-304');
    const next = await get('/star-on-304');

    expect(revalidated.text).toBe('stored');
    expect(revalidated.headers['cache-status']).toMatch(/fwd-status=304/);
    expect(next.text).toBe('fetched');
    expect(next.headers['cache-status']).not.toMatch(/hit/);
    expect(origin.requestsTo('/star-on-304')).toHaveLength(3);
  });

  it('never serves a response with Vary: * from cache (RFC 9111 §4.1)', async () => {
    let n = 0;
    origin.route('/star', (_req, res) => void res.writeHead(200, { 'cache-control': 'max-age=600', vary: '*' }).end(`answer ${++n}`));

    const first = await get('/star');
    const second = await get('/star');

    expect(first.text).toBe('answer 1');
    expect(second.text).toBe('answer 2');
    expect(second.headers['vary']).toBe('*');
    expect(second.headers['cache-status']).not.toMatch(/hit/);
    expect(origin.requestsTo('/star')).toHaveLength(2);
  });

  it('stores a new variant without displacing the variant already stored (RFC 9111 §4.1)', async () => {
    origin.route('/variants-apart', byEncoding);

    await get('/variants-apart', { 'accept-encoding': 'gzip' });
    await get('/variants-apart', { 'accept-encoding': 'br' });
    const gzip = await get('/variants-apart', { 'accept-encoding': 'gzip' });
    const br = await get('/variants-apart', { 'accept-encoding': 'br' });

    expect(gzip.text).toBe('encoded as gzip');
    expect(br.text).toBe('encoded as br');
    expect(gzip.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(br.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(origin.requestsTo('/variants-apart')).toHaveLength(2);
  });
});
