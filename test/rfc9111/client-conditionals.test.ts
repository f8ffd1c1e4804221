// RFC 9111 §4.3.2: a client's conditional request is answered from a fresh entry (304 when
// its validators match, weak comparison), and forwarded as is when nothing is stored.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { respond, validating } from '../helpers/respond.js';

describe('handling a received validation request (RFC 9111 §4.3.2)', () => {
  const lastModified = new Date(Date.now() - 3600_000).toUTCString();
  let origin: Origin;
  let proxy: TestProxy;
  const get = (path: string, headers: Record<string, string> = {}) => viaProxy(proxy.url, `${origin.url}${path}`, { headers });

  /** Store `path` with the given validators and return it; the origin has seen one request. */
  async function stored(path: string, headers: Record<string, string>, body = 'stored body'): Promise<void> {
    origin.route(path, respond(200, { 'cache-control': 'max-age=600', 'content-type': 'text/plain', ...headers }, body));
    const first = await get(path);
    expect(first.status).toBe(200);
  }

  beforeAll(async () => {
    origin = await startOrigin();
    proxy = await startProxy();
  });

  afterAll(async () => {
    await proxy?.stop();
    await origin?.close();
  });

  it('answers 304 from cache, without asking the origin, when If-None-Match names the fresh entry\'s ETag (RFC 9111 §4.3.2)', async () => {
    await stored('/inm-match', { etag: '"abc"', 'last-modified': lastModified });

    const answer = await get('/inm-match', { 'if-none-match': '"abc"' });

    expect(answer.status).toBe(304);
    expect(answer.body).toHaveLength(0);
    expect(answer.headers['etag']).toBe('"abc"');
    expect(answer.headers['cache-control']).toBe('max-age=600');
    expect(answer.headers['last-modified']).toBe(lastModified);
    expect(answer.headers['content-type']).toBeUndefined();
    expect(answer.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(origin.requestsTo('/inm-match')).toHaveLength(1);
  });

  it('answers 200 with the stored body when If-None-Match names another ETag (RFC 9110 §13.1.2)', async () => {
    await stored('/inm-other', { etag: '"abc"' });

    const answer = await get('/inm-other', { 'if-none-match': '"xyz"' });

    expect(answer.status).toBe(200);
    expect(answer.text).toBe('stored body');
    expect(answer.headers['etag']).toBe('"abc"');
    expect(origin.requestsTo('/inm-other')).toHaveLength(1);
  });

  it.each([
    ['W/"abc"', '"abc"'],
    ['"abc"', 'W/"abc"'],
    ['W/"abc"', 'W/"abc"'],
  ])('uses the weak comparison for If-None-Match: stored %s, requested %s → 304 (RFC 9110 §13.1.2, §8.8.3.2)', async (storedTag, requested) => {
    const path = `/weak/${encodeURIComponent(storedTag)}/${encodeURIComponent(requested)}`;
    await stored(path, { etag: storedTag });

    const answer = await get(path, { 'if-none-match': requested });

    expect(answer.status).toBe(304);
    expect(answer.headers['etag']).toBe(storedTag);
    expect(origin.requestsTo(path)).toHaveLength(1);
  });

  it('answers 304 when any tag of an If-None-Match list matches, and for If-None-Match: * (RFC 9110 §13.1.2)', async () => {
    await stored('/inm-list', { etag: '"two"' });

    const listed = await get('/inm-list', { 'if-none-match': '"one", "two", "three"' });
    const star = await get('/inm-list', { 'if-none-match': '*' });

    expect(listed.status).toBe(304);
    expect(star.status).toBe(304);
    expect(origin.requestsTo('/inm-list')).toHaveLength(1);
  });

  it('answers 304 when If-Modified-Since is not earlier than the stored Last-Modified (RFC 9110 §13.1.3)', async () => {
    await stored('/ims', { 'last-modified': lastModified });

    const same = await get('/ims', { 'if-modified-since': lastModified });
    const later = await get('/ims', { 'if-modified-since': new Date(Date.parse(lastModified) + 60_000).toUTCString() });
    const earlier = await get('/ims', { 'if-modified-since': new Date(Date.parse(lastModified) - 60_000).toUTCString() });

    expect(same.status).toBe(304);
    expect(same.body).toHaveLength(0);
    expect(same.headers['last-modified']).toBe(lastModified);
    expect(later.status).toBe(304);
    expect(earlier.status).toBe(200);
    expect(earlier.text).toBe('stored body');
    expect(origin.requestsTo('/ims')).toHaveLength(1);
  });

  it('ignores If-Modified-Since when If-None-Match is present (RFC 9110 §13.2.2)', async () => {
    await stored('/precedence', { etag: '"p"', 'last-modified': lastModified });

    const answer = await get('/precedence', { 'if-none-match': '"other"', 'if-modified-since': lastModified });

    expect(answer.status).toBe(200);
    expect(answer.text).toBe('stored body');
    expect(origin.requestsTo('/precedence')).toHaveLength(1);
  });

  it('answers 200 to If-None-Match when the stored response has no ETag (RFC 9110 §13.1.2)', async () => {
    await stored('/no-etag', { 'last-modified': lastModified });

    const answer = await get('/no-etag', { 'if-none-match': '"anything"' });

    expect(answer.status).toBe(200);
    expect(answer.text).toBe('stored body');
    expect(origin.requestsTo('/no-etag')).toHaveLength(1);
  });

  it('answers a conditional HEAD from cache with 304 when it matches (RFC 9110 §13.1.2)', async () => {
    await stored('/head-conditional', { etag: '"h"' });

    const answer = await viaProxy(proxy.url, `${origin.url}/head-conditional`, { method: 'HEAD', headers: { 'if-none-match': '"h"' } });

    expect(answer.status).toBe(304);
    expect(origin.requestsTo('/head-conditional')).toHaveLength(1);
  });

  it('forwards a conditional request as is when nothing is stored and returns the origin\'s 304 (RFC 9111 §4.3.2)', async () => {
    origin.route('/nothing-stored', validating({ 'cache-control': 'max-age=600', etag: '"ns"' }, 'ns body'));

    const answer = await get('/nothing-stored', { 'if-none-match': '"ns"' });

    expect(answer.status).toBe(304);
    expect(answer.body).toHaveLength(0);
    expect(answer.headers['etag']).toBe('"ns"');
    const seen = origin.requestsTo('/nothing-stored');
    expect(seen).toHaveLength(1);
    expect(seen[0]!.headers['if-none-match']).toBe('"ns"');
  });

  it('stores nothing from a forwarded 304: the next unconditional request goes to the origin and gets the body (RFC 9111 §4.3.2)', async () => {
    origin.route('/nothing-stored-after', validating({ 'cache-control': 'max-age=600', etag: '"na"' }, 'na body'));

    const conditional = await get('/nothing-stored-after', { 'if-none-match': '"na"' });
    const unconditional = await get('/nothing-stored-after');
    const hit = await get('/nothing-stored-after');

    expect(conditional.status).toBe(304);
    expect(unconditional.status).toBe(200);
    expect(unconditional.text).toBe('na body');
    expect(hit.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    const seen = origin.requestsTo('/nothing-stored-after');
    expect(seen).toHaveLength(2);
    expect(seen[1]!.headers['if-none-match']).toBeUndefined();
  });

  it('forwards If-Modified-Since as is when nothing is stored (RFC 9111 §4.3.2)', async () => {
    origin.route('/ims-forwarded', validating({ 'cache-control': 'max-age=600', 'last-modified': lastModified }, 'body'));

    const answer = await get('/ims-forwarded', { 'if-modified-since': lastModified });

    expect(answer.status).toBe(304);
    expect(origin.requestsTo('/ims-forwarded')[0]!.headers['if-modified-since']).toBe(lastModified);
  });

  it('stores the 200 an origin sends to a forwarded conditional that did not match, and answers the client with it', async () => {
    origin.route('/conditional-miss', validating({ 'cache-control': 'max-age=600', etag: '"new"' }, 'new body'));

    const answer = await get('/conditional-miss', { 'if-none-match': '"old"' });
    const hit = await get('/conditional-miss');

    expect(answer.status).toBe(200);
    expect(answer.text).toBe('new body');
    expect(hit.text).toBe('new body');
    expect(hit.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(origin.requestsTo('/conditional-miss')).toHaveLength(1);
  });
});
