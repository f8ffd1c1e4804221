// The glob matcher (src/policy/glob.ts): the same answers as the matchers it replaced (picomatch
// with dot: true for client and host globs; `*` / `?` wildcards for paths and query names), time
// linear in the text for the patterns that made those backtrack for seconds (issue 18 item 6),
// and the patterns it refuses when they are loaded.
import picomatch from 'picomatch';
import { describe, expect, it } from 'vitest';
import { compileGlob, compileGlobs, GlobError, MAX_GLOB_LENGTH } from '../../src/policy/glob.js';
import { compileUrlPattern } from '../../src/policy/crawl-rules.js';

/** Time of the slowest of `runs` calls, in ms. */
function slowest(run: () => unknown, runs = 3): number {
  let worst = 0;
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    run();
    worst = Math.max(worst, performance.now() - started);
  }
  return worst;
}

describe('name globs (client ids, hosts, --intercept): as picomatch with dot: true', () => {
  const patterns = [
    '*', '**', '*.example.com', 'example.com', 'www.example.com', '*.*.example.com', 'scraper-*', 'scraper-?', 'scraper-??',
    '*-7', 'a*b*c', '*a*', '?', '??*', 'api.{example,test}.com', '{a,b}.{c,d}', '{*.a,b}', 'x{a,{b,c}}y', '{a}', '[ab]c',
    '[^ab]c', '[a-c]*', '[]]x', 'a[', 'a]', '\\*x', 'a\\?b', '!scraper-*', '!!a', 'sub.*.example.com',
    '.hidden', '*hidden', 'xn--*.example', '[0-9]*.test', '10.0.*.*', '::1', '*:*',
  ];
  const texts = [
    '', 'a', 'b', 'ac', 'bc', 'cc', 'dc', ']x', 'a[', 'a]', '*x', 'ax', 'a?b', 'axb', 'example.com', 'www.example.com', 'a.b.example.com',
    '.example.com', 'api.example.com', 'api.test.com', 'api.other.com', 'a.c', 'b.d', 'a.e', 'x.a', 'b', 'xay', 'xby', 'xcy', 'xdy', 'scraper-7', 'scraper-', 'scraper-77',
    'scraper-777', 'crawler-7', 'abc', 'aXbYc', 'acb', 'x', '.hidden', 'x.hidden', 'sub.a.example.com',
    'xn--bcher-kva.example', '7.test', 'x.test', '10.0.1.2', '10.1.1.2', '::1', '127.0.0.1', 'a-7', 'a!c', 'a^c',
  ];

  it.each(patterns)('%s matches what picomatch matched', (pattern) => {
    const ours = compileGlob(pattern, 'name');
    const theirs = picomatch(pattern, { dot: true });
    const differ = texts.filter((text) => text !== '' && ours(text) !== theirs(text));
    expect(differ, `texts matched differently by ${pattern}`).toEqual([]);
  });

  // Host names and client ids hold no `/`; picomatch's path rules (a trailing `/`, `**/` matching
  // no segment) are not kept, and `[!ab]` negates as in bash (picomatch 4 reads it as `[!ab]`).
  it('`*` and `?` stop at `/`, `**` crosses it; `[!ab]` and `[^ab]` negate', () => {
    expect(['a/b', 'a'].map(compileGlob('*', 'name'))).toEqual([false, true]);
    expect(['a/b', 'axb'].map(compileGlob('a?b', 'name'))).toEqual([false, true]);
    expect(['a/b/c', 'a'].map(compileGlob('a/**', 'name'))).toEqual([true, false]);
    expect(['a/b/c', 'a/b'].map(compileGlob('a/*', 'name'))).toEqual([false, true]);
    for (const negation of ['[!ab]c', '[^ab]c']) {
      expect(['ac', 'bc', 'cc', 'dc', '/c'].map(compileGlob(negation, 'name'))).toEqual([false, false, true, true, false]);
    }
  });

  it('a list matches when any of its globs does (intercept / passthrough)', () => {
    const test = compileGlobs(['*.bank.example', 'pinned.example'], 'name');
    expect(['a.bank.example', 'pinned.example'].map(test)).toEqual([true, true]);
    expect(['bank.example', 'other.example'].map(test)).toEqual([false, false]);
    expect(compileGlobs([], 'name')('x')).toBe(false);
  });
});

describe('wildcard globs (rule paths, ignoreQuery): `*` any run, `/` too; `?` one character; the rest literal', () => {
  it.each([
    ['/articles/*', '/articles/2026/12/a', true],
    ['/articles/*', '/articles/', true],
    ['/articles/*', '/articles', false],
    ['*.iso', '/images/debian.iso', true],
    ['*.iso', '/images/debian.isox', false],
    ['/a?c', '/abc', true],
    ['/a?c', '/a/c', true],
    ['/a?c', '/ac', false],
    ['/[ab]', '/[ab]', true],
    ['/[ab]', '/a', false],
    ['/{a,b}', '/{a,b}', true],
    ['utm_*', 'utm_source', true],
    ['utm_*', 'xutm_source', false],
    ['fbclid', 'fbclid', true],
    ['fbclid', 'fbclid2', false],
    ['*a*b', 'xaxxb', true],
    ['*a*b', 'xbxxa', false],
  ])('%s on %s: %s', (pattern, text, expected) => {
    expect(compileGlob(pattern, 'wildcard')(text)).toBe(expected);
  });
});

describe('adversarial patterns match in time linear in the text (issue 18 item 6)', () => {
  const STAR_A = '*a*a*a*a*a*a*b';

  it.each([64, 80, 10_000, 16_384])(`${STAR_A} against %i characters of "a" answers false in milliseconds`, (length) => {
    const text = 'a'.repeat(length);
    for (const dialect of ['wildcard', 'name'] as const) {
      const test = compileGlob(STAR_A, dialect);
      expect(test(text)).toBe(false);
      expect(slowest(() => test(text))).toBeLessThan(200);
    }
  });

  it('a path glob of 500 stars against a 16 KiB path, and 64 brace alternatives of stars', () => {
    const text = 'a'.repeat(16_384);
    const stars = compileGlob(`/${'*a'.repeat(500)}b`, 'wildcard');
    expect(slowest(() => expect(stars(`/${text}`)).toBe(false))).toBeLessThan(200);
    const braces = compileGlob(`{${Array.from({ length: 64 }, (_, i) => `${'*a'.repeat(6)}${i}`).join(',')}}`, 'name');
    expect(slowest(() => expect(braces(text)).toBe(false))).toBeLessThan(200);
  });

  it('matches are still found at the far end of a long text', () => {
    expect(compileGlob(STAR_A, 'wildcard')(`${'a'.repeat(10_000)}b`)).toBe(true);
    expect(compileGlob('*.example.com', 'name')(`${'a.'.repeat(5000)}example.com`)).toBe(true);
  });

  it.each([
    ['(a+)+$', `${'a'.repeat(10_000)}!`],
    ['(a|a)*b', 'a'.repeat(10_000)],
    ['^(([a-z])+.)+[A-Z]([a-z])+$', 'a'.repeat(10_000)],
    ['.*a.*a.*a.*a.*a.*a.*b', 'a'.repeat(10_000)],
  ])('a url rule %s (RE2) against 10,000 characters answers in milliseconds', (source, text) => {
    const test = compileUrlPattern(source);
    expect(test(`http://h.example/${text}`)).toBe(false);
    expect(slowest(() => test(`http://h.example/${text}`))).toBeLessThan(200);
  });
});

describe('patterns refused when they are loaded', () => {
  it.each([
    ['longer than the cap', 'a'.repeat(MAX_GLOB_LENGTH + 1), `a glob of at most ${MAX_GLOB_LENGTH} characters`],
    ['an extglob', '@(a|b).example', 'a glob without extglobs such as @(…) (use {a,b} alternatives)'],
    ['a negated extglob', '!(a).example', 'a glob without extglobs such as !(…) (use {a,b} alternatives)'],
    ['a POSIX class', '[[:alpha:]]*', 'a glob without POSIX classes such as [[:alpha:]] (use [a-z])'],
    ['a brace range', 'host{1..9}', 'a glob without ranges such as {1..3} (list them: {1,2,3})'],
    ['braces past 64 alternatives', '{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}', 'a glob whose braces expand to at most 64 alternatives'],
    ['a lone trailing backslash', 'a\\', 'a glob that does not end in a lone \\'],
  ])('%s', (_what, pattern, expected) => {
    let error: unknown;
    try {
      compileGlob(pattern, 'name');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(GlobError);
    expect((error as GlobError).expected).toBe(expected);
  });

  it('a wildcard glob reads every character but * and ? literally, so only its length is capped', () => {
    expect(compileGlob('/@(a)/[[:x:]]/{1..3}\\', 'wildcard')('/@(a)/[[:x:]]/{1..3}\\')).toBe(true);
    expect(() => compileGlob('/'.repeat(MAX_GLOB_LENGTH + 1), 'wildcard')).toThrow(GlobError);
  });

  it('braces expanding to 64 alternatives are taken, and 4,096 bracket groups are not expanded at all', () => {
    expect(compileGlob('{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}', 'name')('abbaab')).toBe(true);
    expect(slowest(() => expect(() => compileGlob('{a,b}'.repeat(200), 'name')).toThrow(GlobError), 1)).toBeLessThan(200);
  });
});
