// Range requests answered from a stored complete 200 (RFC 9110 §14, §15.3.7, §15.5.17;
// RFC 9111 §3.3 leaves storing partial content optional, and we do not). With nothing fresh
// stored, the Range goes to the origin as sent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { respond } from '../helpers/respond.js';

const BODY = '0123456789abcdefghij'; // 20 bytes
const LAST_MODIFIED = 'Tue, 01 Dec 2026 10:00:00 GMT';

describe('byte ranges from the cache (RFC 9110 §14)', () => {
  let origin: Origin;
  let proxy: TestProxy;
  const get = (path: string, headers: Record<string, string> = {}) => viaProxy(proxy.url, `${origin.url}${path}`, { headers });

  beforeAll(async () => {
    origin = await startOrigin({
      '/file': respond(200, { 'cache-control': 'max-age=600', etag: '"f1"', 'last-modified': LAST_MODIFIED, 'content-type': 'text/plain' }, BODY),
      '/weak': respond(200, { 'cache-control': 'max-age=600', etag: 'W/"w1"' }, BODY),
      '/uncached': (req, res) => {
        if (req.headers['range'] === 'bytes=0-3') return void res.writeHead(206, { 'content-range': 'bytes 0-3/20' }).end(BODY.slice(0, 4));
        res.writeHead(200, { 'cache-control': 'max-age=600' }).end(BODY);
      },
    });
    proxy = await startProxy();
    await get('/file');
    await get('/weak');
  });

  afterAll(async () => {
    await proxy?.stop();
    await origin?.close();
  });

  it.each([
    ['bytes=0-3', 'bytes 0-3/20', '0123'],
    ['bytes=10-', 'bytes 10-19/20', 'abcdefghij'],
    ['bytes=-5', 'bytes 15-19/20', 'fghij'],
    ['bytes=15-100', 'bytes 15-19/20', 'fghij'],
    ['bytes=-100', 'bytes 0-19/20', BODY],
  ])('answers Range: %s with 206, Content-Range %s and those bytes, without the origin', async (range, contentRange, bytes) => {
    const answer = await get('/file', { range });
    expect(answer.status).toBe(206);
    expect(answer.headers['content-range']).toBe(contentRange);
    expect(answer.headers['content-length']).toBe(String(bytes.length));
    expect(answer.headers['etag']).toBe('"f1"');
    expect(answer.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(answer.text).toBe(bytes);
    expect(origin.requestsTo('/file')).toHaveLength(1);
  });

  it.each(['bytes=20-', 'bytes=-0', 'bytes=25-30'])('answers an unsatisfiable Range: %s with 416 and Content-Range: bytes */20', async (range) => {
    const answer = await get('/file', { range });
    expect(answer.status).toBe(416);
    expect(answer.headers['content-range']).toBe('bytes */20');
    expect(answer.body).toHaveLength(0);
    expect(origin.requestsTo('/file')).toHaveLength(1);
  });

  it.each(['bytes=0-1,5-6', 'lines=1-2', 'bytes=5-2'])('answers a Range it does not serve (%s) with the whole 200', async (range) => {
    const answer = await get('/file', { range });
    expect(answer.status).toBe(200);
    expect(answer.text).toBe(BODY);
  });

  it('honours If-Range: a matching strong ETag or the exact Last-Modified gives 206, anything else the whole 200 (RFC 9110 §13.1.5)', async () => {
    const byTag = await get('/file', { range: 'bytes=0-1', 'if-range': '"f1"' });
    const byDate = await get('/file', { range: 'bytes=0-1', 'if-range': LAST_MODIFIED });
    const otherTag = await get('/file', { range: 'bytes=0-1', 'if-range': '"f0"' });
    const weakTag = await get('/weak', { range: 'bytes=0-1', 'if-range': 'W/"w1"' });
    expect(byTag.status).toBe(206);
    expect(byDate.status).toBe(206);
    expect(otherTag.status).toBe(200);
    expect(otherTag.text).toBe(BODY);
    expect(weakTag.status).toBe(200);
  });

  it('answers If-None-Match before Range: a matching tag is a 304 (RFC 9110 §13.2.2)', async () => {
    const answer = await get('/file', { range: 'bytes=0-1', 'if-none-match': '"f1"' });
    expect(answer.status).toBe(304);
  });

  it('forwards the Range to the origin as sent when nothing is stored, and stores nothing from it', async () => {
    const partial = await get('/uncached', { range: 'bytes=0-3' });
    const whole = await get('/uncached');
    expect(partial.status).toBe(206);
    expect(partial.text).toBe('0123');
    expect(partial.headers['cache-status']).toMatch(/fwd=bypass.*detail=range/);
    expect(whole.status).toBe(200);
    expect(whole.text).toBe(BODY);
    expect(origin.requestsTo('/uncached').map((r) => r.headers['range'])).toEqual(['bytes=0-3', undefined]);
  });
});
