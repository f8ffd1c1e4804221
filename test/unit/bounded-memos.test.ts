// Every per-URL and per-client memo is bounded by bytes as well as by count (issue 18: 15,000
// changes with 8 KB URLs and 7 KB client ids took +290 MB). Each memo is fed long keys through
// the code that uses it, and its own count of bytes (bounded-memo.ts memoUsage(), or the
// structure's usage()) must stay within its budget. Hosts longer than a DNS name can be are
// refused before they reach any memo keyed by host (metrics labels, leaf certificates, warnings).
import { describe, expect, it } from 'vitest';
import { memoUsage, type MemoUsage } from '../../src/bounded-memo.js';
import { urlKey } from '../../src/cache/keys.js';
import { NoVarySearchHints, type QueryRule } from '../../src/cache/no-vary-search.js';
import { ProxyError } from '../../src/errors.js';
import { parseRequestTarget } from '../../src/http/request-target.js';
import { CrawlRuleMatcher } from '../../src/policy/crawl-rules.js';
import { recordId, RecentlyRecorded } from '../../src/policy/ledger.js';
import { emptyRules, RuleMatcher } from '../../src/policy/rules.js';
import { LEDGER_BYTES, MAX_VALIDATORS_PER_RECORD, MemoryLedger } from '../../src/store/memory/coordination.js';
import { serverNameOf } from '../../src/tls/client-hello.js';

const KB = 1024;
const long = (n: number, size: number, letter = 'x') => `${n}-${letter.repeat(size)}`;

function memo(name: string): MemoUsage[] {
  return memoUsage().filter((usage) => usage.name === name);
}

function withinBudget(name: string): MemoUsage {
  const [usage, ...more] = memo(name);
  expect(more).toEqual([]);
  expect(usage!.bytes).toBeLessThanOrEqual(usage!.maxBytes);
  return usage!;
}

describe('memos keyed by URL stay within their bytes', () => {
  it('parsed request-targets: 3,000 URLs of 8 KB', () => {
    for (let i = 0; i < 3000; i++) parseRequestTarget('GET', `http://example.com/${long(i, 8 * KB)}`);
    const usage = withinBudget('request-targets');
    expect(usage.entries).toBeLessThan(3000);
    expect(usage.bytes).toBeGreaterThan(usage.maxBytes / 2);
  });

  it('URL keys: 3,000 URLs of 8 KB', () => {
    for (let i = 0; i < 3000; i++) urlKey(new URL(`http://example.com/${long(i, 8 * KB)}`));
    expect(withinBudget('url-keys').entries).toBeLessThan(3000);
  });

  it('URL keys under query rules: one memo for every rule object, not one (of about 200 KiB) per rule the engine hands out', () => {
    const before = memoUsage().length;
    // The rule's ignoreQuery globs, compiled once per rules change.
    const ignore = (name: string): boolean => name.startsWith('utm_');
    for (let i = 0; i < 2000; i++) {
      // A crawl rule resolves to a new query rule object per URL.
      const rule: QueryRule = { ignore, sort: true };
      urlKey(new URL(`http://example.com/${long(i, 4 * KB)}?b=1&a=2&utm_x=3`), rule);
    }
    expect(memoUsage().length).toBe(before);
    const usage = withinBudget('rule-url-keys');
    expect(usage.entries).toBeLessThan(2000);
    // Same rule, same URL: the same key, from the memo or not.
    const url = new URL('http://example.com/p?b=1&a=2&utm_x=3');
    expect(urlKey(url, { ignore, sort: true })).toBe(urlKey(new URL('http://example.com/p?a=2&b=1'), { sort: true }));
  });

  it('crawl rule resolutions: 3,000 URLs of 8 KB', () => {
    const matcher = new CrawlRuleMatcher([{ match: { host: 'example.com' }, defaultTtl: 60 }]);
    for (let i = 0; i < 3000; i++) matcher.resolve(new URL(`http://example.com/${long(i, 8 * KB)}`));
    const usage = memoUsage().filter((u) => u.name === 'crawl-rules' && u.entries > 0);
    expect(usage).toHaveLength(1);
    expect(usage[0]!.bytes).toBeLessThanOrEqual(usage[0]!.maxBytes);
    expect(usage[0]!.entries).toBeLessThan(3000);
  });

  it('No-Vary-Search hints: 3,000 paths of 4 KB, each naming 50 long parameters', () => {
    const hints = new NoVarySearchHints();
    const names = new Set(Array.from({ length: 50 }, (_, i) => long(i, 200, 'p')));
    for (let i = 0; i < 3000; i++) hints.learn(`http://example.com:80/${long(i, 4 * KB)}`, { noVary: { names } });
    const usage = memoUsage().filter((u) => u.name === 'no-vary-search-hints' && u.entries > 0);
    expect(usage).toHaveLength(1);
    expect(usage[0]!.bytes).toBeLessThanOrEqual(usage[0]!.maxBytes);
    expect(hints.size).toBeLessThan(3000);
  });
});

describe('memos keyed by client stay within their bytes', () => {
  it('policy resolutions: 3,000 client ids of 7 KB', () => {
    const matcher = new RuleMatcher(emptyRules(), { validators: 'pass', requestCacheControl: 'honor' });
    for (let i = 0; i < 3000; i++) matcher.resolve(long(i, 7 * KB), 'example.com');
    const usage = memoUsage().filter((u) => u.name === 'client-policies' && u.entries > 0);
    expect(usage).toHaveLength(1);
    expect(usage[0]!.bytes).toBeLessThanOrEqual(usage[0]!.maxBytes);
    expect(usage[0]!.entries).toBeLessThan(3000);
  });

  it('the isolate ledger\'s write-on-change memo: 10,000 records of 7 KB client ids and 1 KB validators', () => {
    const recent = new RecentlyRecorded();
    for (let i = 0; i < 10_000; i++) recent.remember(recordId(long(i, 7 * KB), 'key', `"${'v'.repeat(KB)}"`), 0);
    const { entries, bytes } = recent.usage();
    expect(bytes).toBeLessThanOrEqual(2 * 1024 * 1024);
    expect(entries).toBeLessThan(1000);
    expect(recent.isRecent(recordId(long(9999, 7 * KB), 'key', `"${'v'.repeat(KB)}"`), 1, 60_000)).toBe(true);
  });

  it('the memory store\'s isolate ledger: 2,500 records of 7 KB client ids, each served 20 validators of 1 KB', async () => {
    const ledger = new MemoryLedger(() => 0);
    const validator = (v: number) => `"${v}-${'v'.repeat(KB)}"`;
    for (let i = 0; i < 2500; i++) {
      for (let v = 0; v < 20; v++) await ledger.recordServed(long(i, 7 * KB), 'key', validator(v), 60_000);
    }
    const { records, bytes } = ledger.usage();
    expect(bytes).toBeLessThanOrEqual(LEDGER_BYTES);
    expect(records).toBeLessThan(2500);
    // The most recent validators of a record are kept, the older ones forgotten (a 200, never a wrong 304).
    expect(await ledger.wasServed(long(2499, 7 * KB), 'key', validator(19))).toBe(true);
    expect(await ledger.wasServed(long(2499, 7 * KB), 'key', validator(20 - MAX_VALIDATORS_PER_RECORD))).toBe(true);
    expect(await ledger.wasServed(long(2499, 7 * KB), 'key', validator(20 - MAX_VALIDATORS_PER_RECORD - 1))).toBe(false);
    expect(await ledger.wasServed(long(0, 7 * KB), 'key', validator(19))).toBe(false);
  }, 30_000);
});

describe('hosts longer than a DNS name are refused before any memo keyed by host', () => {
  const refusal = (method: string, target: string): ProxyError => {
    try {
      parseRequestTarget(method, target);
    } catch (error) {
      if (error instanceof ProxyError) return error;
      throw error;
    }
    throw new Error('accepted');
  };

  it('refuses a 254-character host in the absolute-form and in CONNECT with 400, and takes 253', () => {
    const host = (n: number) => `${'a'.repeat(63)}.`.repeat(4).slice(0, n - 4) + '.com';
    expect(host(253)).toHaveLength(253);
    expect(parseRequestTarget('GET', `http://${host(253)}/`).form).toBe('absolute');
    expect(refusal('GET', `http://${host(254)}/`)).toMatchObject({ status: 400, code: 'bad_target', message: 'request-target host is longer than 253 characters' });
    expect(refusal('CONNECT', `${'a'.repeat(8 * KB)}:443`)).toMatchObject({ status: 400, code: 'bad_target', message: 'CONNECT host is longer than 253 characters' });
  });

  it('reads no SNI name longer than 253 characters (the CONNECT host is used instead)', () => {
    const hello = (name: string) => {
      const sni = Buffer.from(name, 'ascii');
      const list = Buffer.concat([Buffer.from([0]), u16(sni.length), sni]);
      const extension = Buffer.concat([u16(0), u16(list.length + 2), u16(list.length), list]);
      const body = Buffer.concat([Buffer.from([3, 3]), Buffer.alloc(32), Buffer.from([0]), u16(2), Buffer.from([0x13, 0x01]), Buffer.from([1, 0]), u16(extension.length), extension]);
      const handshake = Buffer.concat([Buffer.from([1, 0, body.length >> 8, body.length & 255]), body]);
      return Buffer.concat([Buffer.from([22, 3, 1]), u16(handshake.length), handshake]);
    };
    expect(serverNameOf(hello('example.com'))).toBe('example.com');
    expect(serverNameOf(hello(`${'a'.repeat(300)}.com`))).toBeUndefined();
  });
});

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}
