import { describe, expect, it } from 'vitest';
import { banReason, parseBanMarkers } from '../../src/parents/ban.js';

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
});
