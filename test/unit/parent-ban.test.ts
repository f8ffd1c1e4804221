import { describe, expect, it } from 'vitest';
import { BAN_BODY_BYTES, banReason, bodyBanReason, bodyMayBan, parseBanMarkers } from '../../src/parents/ban.js';

describe('ban markers', () => {
  it('a header pattern matches anywhere in the value, case-insensitively', () => {
    const markers = parseBanMarkers('parents.pools.p.ban', { header: { name: 'X-Blocked', pattern: 'captcha' } });
    expect(banReason(markers, 200, { 'x-blocked': 'Solve the CAPTCHA please' })).toBe('header x-blocked');
    expect(banReason(markers, 200, { 'x-blocked': 'rate limit' })).toBeUndefined();
    expect(banReason(markers, 200, {})).toBeUndefined();
  });

  it('a pattern that backtracks in JavaScript runs in linear time on a hostile value (RE2)', () => {
    const markers = parseBanMarkers('ban', { header: { name: 'x-blocked', pattern: '^(a+)+$' } });
    const hostile = `${'a'.repeat(1000)}!`;
    const started = process.hrtime.bigint();
    expect(banReason(markers, 200, { 'x-blocked': hostile })).toBeUndefined();
    // A JavaScript RegExp takes far longer than the age of the universe here; RE2 well under this.
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(500);
  });

  it('refuses syntax RE2 does not accept, naming the key', () => {
    expect(() => parseBanMarkers('ban', { header: { name: 'x', pattern: '(?=a)' } })).toThrow(/ban\.header\.pattern: expected a regular expression/);
  });

  it('a body pattern is looked for in the first bytes only, decoded latin1, and only on answers with a body', () => {
    const markers = parseBanMarkers('ban', { body: 'access denied.{0,20}captcha' });
    expect(bodyBanReason(markers, Buffer.from('<html>Access Denied \xe9 captcha</html>', 'latin1'))).toBe('body pattern');
    expect(bodyBanReason(markers, Buffer.from('<html>a real page</html>'))).toBeUndefined();
    const late = Buffer.concat([Buffer.alloc(BAN_BODY_BYTES, 0x20), Buffer.from('access denied captcha')]);
    expect(bodyBanReason(markers, late)).toBeUndefined();
    expect(bodyMayBan(markers, 'GET', 200, {})).toBe(true);
    expect([bodyMayBan(markers, 'HEAD', 200, {}), bodyMayBan(markers, 'GET', 304, {}), bodyMayBan(markers, 'GET', 204, {}), bodyMayBan(markers, 'GET', 200, { 'content-length': '0' })]).toEqual([false, false, false, false]);
    expect(bodyMayBan(parseBanMarkers('ban', { status: [403] }), 'GET', 200, {})).toBe(false);
  });

  it('refuses a body pattern that is too long or not RE2, naming the key', () => {
    expect(() => parseBanMarkers('ban', { body: 'a'.repeat(257) })).toThrow(/ban\.body: expected a regular expression of at most 256 characters/);
    expect(() => parseBanMarkers('ban', { body: '(?<=a)b' })).toThrow(/ban\.body: expected a regular expression/);
    expect(() => parseBanMarkers('ban', {})).toThrow(/expected status, header and\/or body/);
  });
});
