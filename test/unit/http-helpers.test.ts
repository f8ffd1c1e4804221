// Small protocol tables and key builders: hop-by-hop fields (RFC 9110 §7.6.1), Via (§7.6.3),
// cache keys and variants (RFC 9111 §4.1), invalidation targets (RFC 9111 §4.4).
import { describe, expect, it } from 'vitest';
import { invalidationKeys, shouldInvalidate } from '../../src/cache/invalidate.js';
import { urlKey, variantId, varyNames } from '../../src/cache/keys.js';
import { connectionTokens, endToEnd } from '../../src/http/hop-by-hop.js';
import { appendVia } from '../../src/http/via.js';

describe('hop-by-hop fields (RFC 9110 §7.6.1)', () => {
  it('removes the fixed hop-by-hop fields and every field Connection names', () => {
    const kept = endToEnd({
      connection: 'keep-alive, X-Private',
      'x-private': '1',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      'proxy-authorization': 'Basic x',
      te: 'trailers',
      upgrade: 'h2c',
      'content-type': 'text/plain',
    });

    expect(kept).toEqual({ 'content-type': 'text/plain' });
  });

  it('reads Connection tokens case-insensitively from one or several field lines', () => {
    expect(connectionTokens(['close, X-A', ' x-b '])).toEqual(['close', 'x-a', 'x-b']);
  });

  it('removes extra names the caller asks for', () => {
    expect(endToEnd({ host: 'a', accept: '*/*' }, ['host'])).toEqual({ accept: '*/*' });
  });
});

describe('Via (RFC 9110 §7.6.3)', () => {
  it('appends this proxy after the recipients already listed', () => {
    expect(appendVia(undefined, '1.1')).toBe('1.1 etag-proxy');
    expect(appendVia(['1.0 a', '1.1 b'], '1.1')).toBe('1.0 a, 1.1 b, 1.1 etag-proxy');
  });
});

describe('cache keys (RFC 9111 §4.1)', () => {
  it('treats host case and the default port as the same URL, and path or query differences as different', () => {
    expect(urlKey(new URL('http://EXAMPLE.com/a?b'))).toBe(urlKey(new URL('http://example.com:80/a?b')));
    expect(urlKey(new URL('http://example.com/a?b'))).not.toBe(urlKey(new URL('http://example.com/a?c')));
    expect(urlKey(new URL('http://example.com//a'))).not.toBe(urlKey(new URL('http://example.com/a')));
  });

  it('reads Vary names lower-cased, de-duplicated and sorted', () => {
    expect(varyNames('Accept-Encoding, accept-language, ACCEPT-ENCODING')).toEqual(['accept-encoding', 'accept-language']);
    expect(varyNames(undefined)).toBeNull();
  });

  it('chooses the same variant for values that differ only in whitespace around commas', () => {
    expect(variantId(['accept-encoding'], { 'accept-encoding': 'gzip, br' })).toBe(variantId(['accept-encoding'], { 'accept-encoding': 'gzip,br' }));
    expect(variantId(['accept-encoding'], { 'accept-encoding': 'gzip' })).not.toBe(variantId(['accept-encoding'], {}));
  });
});

describe('invalidation (RFC 9111 §4.4)', () => {
  it('invalidates after non-error responses to unsafe methods only', () => {
    expect(shouldInvalidate('POST', 201)).toBe(true);
    expect(shouldInvalidate('DELETE', 303)).toBe(true);
    expect(shouldInvalidate('PUT', 404)).toBe(false);
    expect(shouldInvalidate('PATCH', 500)).toBe(false);
    expect(shouldInvalidate('GET', 200)).toBe(false);
  });

  it('adds same-origin Location and Content-Location, relative or absolute, and ignores other origins', () => {
    const target = new URL('http://example.com/items');

    const keys = invalidationKeys(target, { location: '/items/7', 'content-location': 'http://other.example/items/7' });

    expect(keys).toEqual([urlKey(target), urlKey(new URL('http://example.com/items/7'))]);
  });
});
