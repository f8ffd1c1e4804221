// The crawl rule's freshness layer as a pure function: which directives an override removes,
// and the lifetime it writes back (RFC 9111 §4.2.1 explicit, §4.2.2 heuristic, else defaultTtl).
import { describe, expect, it } from 'vitest';
import { applyFreshnessRule } from '../../src/cache/freshness-rule.js';

const NOW = Date.parse('2026-12-01T12:00:00Z');
const date = new Date(NOW).toUTCString();

describe('applyFreshnessRule', () => {
  it('no-cache, max-age=0: override no-cache alone leaves the explicit 0; minTtl or expires replace it', () => {
    const fields = { date, 'cache-control': 'no-cache, max-age=0' };
    expect(applyFreshnessRule(fields, 200, { override: ['no-cache'], defaultTtl: 600_000 }, NOW)).toEqual({ fields: { date, 'cache-control': 'max-age=0' }, overridden: ['no-cache'] });
    expect(applyFreshnessRule(fields, 200, { override: ['no-cache'], minTtl: 600_000 }, NOW).fields['cache-control']).toBe('max-age=600');
    expect(applyFreshnessRule(fields, 200, { override: ['no-cache', 'expires'], defaultTtl: 600_000 }, NOW)).toEqual({
      fields: { date, 'cache-control': 'max-age=600' },
      overridden: ['no-cache', 'expires'],
    });
  });

  it('keeps quoted field lists whole and reports only overrides that removed something', () => {
    const fields = { 'cache-control': 'no-cache="set-cookie, x", private, max-age=60' };
    expect(applyFreshnessRule(fields, 200, { override: ['no-cache', 'no-store'] }, NOW)).toEqual({ fields: { 'cache-control': 'private, max-age=60' }, overridden: ['no-cache'] });
  });

  it('Pragma: no-cache is removed by override no-cache', () => {
    expect(applyFreshnessRule({ pragma: 'no-cache' }, 200, { override: ['no-cache'], defaultTtl: 60_000 }, NOW)).toEqual({ fields: { 'cache-control': 'max-age=60' }, overridden: ['no-cache'] });
  });

  it('clamps s-maxage too, and an Expires-derived lifetime', () => {
    expect(applyFreshnessRule({ 'cache-control': 's-maxage=9000' }, 200, { maxTtl: 60_000 }, NOW).fields['cache-control']).toBe('max-age=60, s-maxage=60');
    const expires = new Date(NOW + 10_000_000).toUTCString();
    expect(applyFreshnessRule({ date, expires }, 200, { maxTtl: 60_000 }, NOW).fields).toEqual({ date, 'cache-control': 'max-age=60' });
  });

  it('negativeTtl applies to 404 / 410 only; heuristicPercent only with Last-Modified', () => {
    expect(applyFreshnessRule({}, 404, { negativeTtl: 300_000 }, NOW).fields['cache-control']).toBe('max-age=300');
    expect(applyFreshnessRule({}, 200, { negativeTtl: 300_000 }, NOW).fields['cache-control']).toBeUndefined();
    const lastModified = new Date(NOW - 1_000_000).toUTCString();
    expect(applyFreshnessRule({ date, 'last-modified': lastModified }, 200, { heuristicPercent: 20 }, NOW).fields['cache-control']).toBe('max-age=200');
    expect(applyFreshnessRule({ date }, 200, { heuristicPercent: 20 }, NOW).fields['cache-control']).toBeUndefined();
  });
});
