// cache/semantics.ts: the RFC 9111 decisions over the project's own cache policy, with an injected clock.
import { describe, expect, it } from 'vitest';
import { buildMeta } from '../../src/cache/entry.js';
import { createSemantics, type SemanticsRequest } from '../../src/cache/semantics.js';
import type { CrawlSettings } from '../../src/policy/crawl-rules.js';

const start = Date.parse('Tue, 01 Jul 2025 10:00:00 GMT');

function setup() {
  let now = start;
  const semantics = createSemantics(() => now);
  const req: SemanticsRequest = { url: 'http://example.com/', method: 'GET', headers: { host: 'example.com' } };
  const policy = (headers: Record<string, string>, status = 200) =>
    semantics.policyFor(req, { status, headers: { date: new Date(start).toUTCString(), ...headers } });
  return { semantics, req, policy, advance: (seconds: number) => (now += seconds * 1000) };
}

describe('usability (RFC 9111 §4.2, §4.3, RFC 5861)', () => {
  it('is fresh before max-age and revalidate after', () => {
    const { semantics, req, policy, advance } = setup();
    const p = policy({ 'cache-control': 'max-age=60' });

    expect(semantics.usability(p, req)).toBe('fresh');
    advance(61);
    expect(semantics.usability(p, req)).toBe('revalidate');
  });

  it('is stale-while-revalidate inside the window and revalidate after it', () => {
    const { semantics, req, policy, advance } = setup();
    const p = policy({ 'cache-control': 'max-age=10, stale-while-revalidate=30' });

    advance(20);
    expect(semantics.usability(p, req)).toBe('stale-while-revalidate');
    advance(30);
    expect(semantics.usability(p, req)).toBe('revalidate');
  });

  it('never serves stale when must-revalidate or proxy-revalidate is present (RFC 9111 §5.2.2.2, §5.2.2.8)', () => {
    const { semantics, req, policy, advance } = setup();
    const mustRevalidate = policy({ 'cache-control': 'max-age=10, must-revalidate, stale-while-revalidate=30' });
    const proxyRevalidate = policy({ 'cache-control': 'max-age=10, proxy-revalidate, stale-while-revalidate=30' });

    expect(semantics.usability(mustRevalidate, req)).toBe('fresh');
    advance(20);
    expect(semantics.usability(mustRevalidate, req)).toBe('revalidate');
    expect(semantics.usability(proxyRevalidate, req)).toBe('revalidate');
  });

  it('revalidates when the response says no-cache, even while fresh (RFC 9111 §5.2.2.4)', () => {
    const { semantics, req, policy } = setup();

    expect(semantics.usability(policy({ 'cache-control': 'no-cache, max-age=60' }), req)).toBe('revalidate');
  });

  it('follows the request\'s no-cache, Pragma: no-cache, max-age and min-fresh (RFC 9111 §5.2.1)', () => {
    const { semantics, req, policy, advance } = setup();
    const p = policy({ 'cache-control': 'max-age=60' });
    advance(30);
    const withHeaders = (headers: Record<string, string>) => ({ ...req, headers: { ...req.headers, ...headers } });

    expect(semantics.usability(p, withHeaders({ 'cache-control': 'no-cache' }))).toBe('revalidate');
    expect(semantics.usability(p, withHeaders({ pragma: 'no-cache' }))).toBe('revalidate');
    expect(semantics.usability(p, withHeaders({ 'cache-control': 'max-age=10' }))).toBe('revalidate');
    expect(semantics.usability(p, withHeaders({ 'cache-control': 'max-age=40' }))).toBe('fresh');
    expect(semantics.usability(p, withHeaders({ 'cache-control': 'min-fresh=40' }))).toBe('revalidate');
  });

  it('serves stale within the request\'s max-stale (RFC 9111 §5.2.1.2)', () => {
    const { semantics, req, policy, advance } = setup();
    const p = policy({ 'cache-control': 'max-age=10' });
    advance(20);

    expect(semantics.usability(p, { ...req, headers: { ...req.headers, 'cache-control': 'max-stale=30' } })).toBe('fresh');
    expect(semantics.usability(p, { ...req, headers: { ...req.headers, 'cache-control': 'max-stale=5' } })).toBe('revalidate');
  });
});

describe('storability and the other questions', () => {
  it('names why a response may not be stored', () => {
    const { semantics, policy } = setup();
    const res = (headers: Record<string, string>) => ({ status: 200, headers });

    expect(semantics.unstorableReason(policy({ vary: '*' }), res({ vary: '*' }))).toBe('vary-star');
    expect(semantics.unstorableReason(policy({ 'cache-control': 'no-store' }), res({}))).toBe('not-storable');
    expect(semantics.unstorableReason(policy({ 'cache-control': 'private' }), res({}))).toBe('not-storable');
    expect(semantics.unstorableReason(policy({ 'cache-control': 'max-age=60' }), res({}))).toBeNull();
  });

  it('allows stale-if-error only inside its window and never with must-revalidate (RFC 5861 §4)', () => {
    const { semantics, policy, advance } = setup();
    const p = policy({ 'cache-control': 'max-age=10, stale-if-error=30' });
    const strict = policy({ 'cache-control': 'max-age=10, stale-if-error=30, must-revalidate' });

    advance(20);
    expect(semantics.mayServeStaleOnError(p)).toBe(true);
    expect(semantics.mayServeStaleOnError(strict)).toBe(false);
    advance(30);
    expect(semantics.mayServeStaleOnError(p)).toBe(false);
  });

  it('reports age and ttl from the injected clock', () => {
    const { semantics, policy, advance } = setup();
    const p = policy({ 'cache-control': 'max-age=60' });
    advance(15);

    expect(semantics.ageSeconds(p)).toBe(15);
    expect(semantics.ttlSeconds(p)).toBe(45);
  });

  it('merges a 304\'s fields into the stored ones, keeping those that describe the stored body (RFC 9111 §3.2)', () => {
    const { semantics } = setup();

    const merged = semantics.mergeNotModified(
      { 'content-length': '4', 'content-encoding': 'gzip', etag: '"a"', 'x-old': 'kept' },
      { 'content-length': '0', etag: '"a"', 'cache-control': 'max-age=99', 'x-new': 'added' },
    );

    expect(merged).toEqual({ 'content-length': '4', 'content-encoding': 'gzip', etag: '"a"', 'x-old': 'kept', 'cache-control': 'max-age=99', 'x-new': 'added' });
  });

  it('merges a 304 that repeats every field it sends into the stored fields themselves (nothing copied)', () => {
    const { semantics } = setup();
    const stored = { 'content-length': '4', etag: '"a"', date: 'Tue, 08 Dec 2026 00:00:00 GMT', 'set-list': ['a', 'b'] };

    expect(semantics.mergeNotModified(stored, { etag: '"a"', date: 'Tue, 08 Dec 2026 00:00:00 GMT', 'content-length': '0', 'set-list': ['a', 'b'] })).toBe(stored);
    const later = semantics.mergeNotModified(stored, { etag: '"a"', date: 'Tue, 08 Dec 2026 00:00:01 GMT' });
    expect(later).not.toBe(stored);
    expect(later).toEqual({ ...stored, date: 'Tue, 08 Dec 2026 00:00:01 GMT' });
    expect(stored.date).toBe('Tue, 08 Dec 2026 00:00:00 GMT');
  });

  it('keeps an entry with validators in the store beyond its freshness, for later 304s', () => {
    const { semantics, policy } = setup();
    const p = policy({ 'cache-control': 'max-age=60' });

    expect(semantics.storeTtlMs(p, false, 10_000, 0)).toBe(60_000);
    expect(semantics.storeTtlMs(p, true, 10_000, 0)).toBe(70_000);
  });

  it('keeps an entry, with validators or without, for the disconnected window when it may be served stale then (RFC 9111 §4.2.4)', () => {
    const { semantics, policy } = setup();
    const plain = policy({ 'cache-control': 'max-age=60' });
    const noStale = policy({ 'cache-control': 'max-age=60, must-revalidate' });
    const shared = policy({ 'cache-control': 's-maxage=60, stale-if-error=30' });

    expect(semantics.storeTtlMs(plain, false, 10_000, 3_600_000)).toBe(3_660_000);
    expect(semantics.storeTtlMs(plain, true, 10_000, 3_600_000)).toBe(3_660_000);
    expect(semantics.storeTtlMs(noStale, false, 10_000, 3_600_000)).toBe(60_000);
    expect(semantics.storeTtlMs(shared, false, 10_000, 3_600_000)).toBe(90_000);
  });
});

describe('refreshedPolicy: the policy after a 304 that changed only Date', () => {
  const later = new Date(start + 90_000).toUTCString();
  const cases: Array<[string, Record<string, string>]> = [
    ['max-age', { 'cache-control': 'max-age=60', etag: '"a"' }],
    ['Expires and Last-Modified (freshness read from Date)', { expires: new Date(start + 600_000).toUTCString(), 'last-modified': new Date(start - 86_400_000).toUTCString() }],
    ['heuristic freshness', { 'last-modified': new Date(start - 864_000_000).toUTCString() }],
    ['Vary', { 'cache-control': 'public, max-age=60', vary: 'accept-encoding' }],
    ['s-maxage and stale-while-revalidate', { 'cache-control': 's-maxage=30, stale-while-revalidate=60' }],
  ];

  /** An entry as the stores hold it (`reread`: as Redis hands it back, policy rebuilt from JSON). */
  function stored(semantics: ReturnType<typeof setup>['semantics'], req: SemanticsRequest, fields: Record<string, string>, rule?: CrawlSettings, reread = false) {
    const headers = { date: new Date(start).toUTCString(), ...fields };
    const meta = buildMeta(200, headers, semantics.policyFor(req, { status: 200, headers }, rule), start, 1);
    return reread ? (JSON.parse(JSON.stringify(meta)) as typeof meta) : meta;
  }

  for (const [name, fields] of cases) {
    it(`builds what policyFor builds from the merged fields: ${name}`, () => {
      const { semantics, req, advance } = setup();
      const before = stored(semantics, req, fields);
      advance(90);
      const refreshed = semantics.refreshedPolicy(before, req, later);
      const rebuilt = semantics.policyFor(req, { status: 200, headers: { ...fields, date: later } });

      expect(refreshed).not.toBeNull();
      expect(refreshed!.toStored(true)).toEqual(rebuilt.toStored(true));
      expect(refreshed!.lifetime).toBe(rebuilt.lifetime);
      for (const at of [0, 30, 700]) {
        advance(at);
        expect([semantics.ttlSeconds(refreshed!), semantics.usability(refreshed!, req)]).toEqual([semantics.ttlSeconds(rebuilt), semantics.usability(rebuilt, req)]);
      }
    });
  }

  it('reads the new Date as policyFor does: canonical form, or none when invalid', () => {
    const { semantics, req } = setup();
    const before = stored(semantics, req, { 'cache-control': 'max-age=60' });

    expect(semantics.refreshedPolicy(before, req, 'Tuesday, 01-Jul-25 10:01:30 GMT')!.fields['date']).toBe(later);
    expect(semantics.refreshedPolicy(before, req, 'not a date')!.fields).not.toHaveProperty('date');
    expect(semantics.refreshedPolicy(before, req, undefined)!.fields).not.toHaveProperty('date');
  });

  it('declines when the request\'s facts (credentials, no-store) or a crawl rule could make the policy differ', () => {
    const { semantics, req } = setup();
    const before = stored(semantics, req, { 'cache-control': 'max-age=60' });
    const withHeaders = (headers: Record<string, string>) => ({ ...req, headers: { ...req.headers, ...headers } });

    expect(semantics.refreshedPolicy(before, withHeaders({ 'cache-control': 'no-store' }), later)).toBeNull();
    expect(semantics.refreshedPolicy(before, withHeaders({ authorization: '(present, not stored)' }), later)).toBeNull();
    expect(semantics.refreshedPolicy(before, req, later, { defaultTtl: 60_000 })).toBeNull();
    const fromNoStoreRequest = stored(semantics, withHeaders({ 'cache-control': 'no-store' }), { 'cache-control': 'max-age=60' });
    expect(semantics.refreshedPolicy(fromNoStoreRequest, req, later)).toBeNull();
  });

  it('ignores what the policy does not read of the request (its URL, a request max-age or no-cache)', () => {
    const { semantics, req } = setup();
    const before = stored(semantics, req, { 'cache-control': 'max-age=60' });
    const withHeaders = (headers: Record<string, string>) => ({ ...req, headers: { ...req.headers, ...headers } });
    const rebuilt = semantics.policyFor(req, { status: 200, headers: { 'cache-control': 'max-age=60', date: later } });

    for (const other of [{ ...req, url: 'http://example.com/other' }, withHeaders({ 'cache-control': 'max-age=0' }), withHeaders({ 'cache-control': 'no-cache' })]) {
      expect(semantics.refreshedPolicy(before, other, later)!.toStored(true)).toEqual(rebuilt.toStored(true));
    }
  });

  // A crawl rule applied when the entry was stored and gone at the refresh: the origin's own
  // fields decide again, as policyFor would have them (found in review).
  it('does not carry a lifetime lever (defaultTtl) used at store time into a refresh without the rule', () => {
    const { semantics, req, advance } = setup();
    const fields = { etag: '"a"' };
    const before = stored(semantics, req, fields, { defaultTtl: 3_600_000 });
    advance(4000);
    const at = new Date(start + 4_000_000).toUTCString();
    const refreshed = semantics.refreshedPolicy(before, req, at);
    const rebuilt = semantics.policyFor(req, { status: 200, headers: { ...fields, date: at } });

    expect(refreshed === null || semantics.usability(refreshed, req) === semantics.usability(rebuilt, req)).toBe(true);
  });

  it('does not carry an override (no-cache) kept in an entry read back into a refresh without the rule', () => {
    const { semantics, req, advance } = setup();
    const fields = { etag: '"a"', 'cache-control': 'no-cache, max-age=600' };
    const before = stored(semantics, req, fields, { override: ['no-cache'] }, true);
    advance(700);
    const at = new Date(start + 700_000).toUTCString();
    const refreshed = semantics.refreshedPolicy(before, req, at);

    expect(semantics.usability(semantics.policyFor(req, { status: 200, headers: { ...fields, date: at } }), req)).toBe('revalidate');
    expect(refreshed === null || semantics.usability(refreshed, req) === 'revalidate').toBe(true);
  });
});
