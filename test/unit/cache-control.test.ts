// The one Cache-Control parser (src/http/cache-control.ts): RFC 9111 §5.2 directive names,
// RFC 9110 §5.6.1 lists and §5.6.4 quoted-strings.
import { describe, expect, it } from 'vitest';
import { directiveName, directiveNames, lowerCaseDirectiveNames, parseDirectives, splitDirectives } from '../../src/http/cache-control.js';

describe('Cache-Control parsing', () => {
  it('splits a list on commas outside quoted strings and drops empty members (RFC 9110 §5.6.1)', () => {
    expect(splitDirectives('no-cache="Set-Cookie, X-Foo", max-age=60')).toEqual(['no-cache="Set-Cookie, X-Foo"', 'max-age=60']);
    expect(splitDirectives(' , public,,max-age=1 ,')).toEqual(['public', 'max-age=1']);
    expect(splitDirectives(undefined)).toEqual([]);
    expect(splitDirectives('')).toEqual([]);
  });

  it('reads directive names case-insensitively (RFC 9111 §5.2)', () => {
    expect(directiveName(' Max-Age = 60')).toBe('max-age');
    expect(directiveName('NO-STORE')).toBe('no-store');
    expect([...directiveNames('Private="Set-Cookie, Authorization", S-MaxAge=5, PUBLIC')]).toEqual(['private', 's-maxage', 'public']);
  });

  it('gives a bare directive the value true and a token its text', () => {
    const directives = parseDirectives('no-store, max-age=60, Stale-While-Revalidate = 30');
    expect(directives.get('no-store')).toBe(true);
    expect(directives.get('max-age')).toBe('60');
    expect(directives.get('stale-while-revalidate')).toBe('30');
    expect(directives.has('public')).toBe(false);
  });

  it('removes the quotes and escapes of a quoted-string value, commas included (RFC 9110 §5.6.4)', () => {
    const directives = parseDirectives('no-cache="Set-Cookie, X-Foo", max-age="60", private="a\\"b"');
    expect(directives.get('no-cache')).toBe('Set-Cookie, X-Foo');
    expect(directives.get('max-age')).toBe('60');
    expect(directives.get('private')).toBe('a"b');
    expect(directives.size).toBe(3);
  });

  it('keeps the last value of a repeated directive, as http-cache-semantics did', () => {
    expect(parseDirectives('max-age=10, max-age=20').get('max-age')).toBe('20');
  });

  it('is lenient with malformed input: an unbalanced quote is dropped, nothing throws', () => {
    expect(parseDirectives('max-age="60').get('max-age')).toBe('60');
    expect(parseDirectives('=5, , max-age=1').get('max-age')).toBe('1');
    expect(parseDirectives(undefined).size).toBe(0);
  });

  it('stays linear on unterminated quotes and escapes a client can send (no quadratic rescans)', () => {
    const hostile = '"\\'.repeat(32 * 1024); // 64 KB of `"\`: each quote opens a string that never closes
    const started = performance.now();
    expect(parseDirectives(hostile).size).toBe(1);
    expect(splitDirectives(`a, ${hostile}, b`)).toHaveLength(3);
    expect(performance.now() - started).toBeLessThan(500); // generous: linear is ~1 ms, quadratic several seconds
  });

  it('rewrites directive names to lower case and leaves values and the common case alone', () => {
    expect(lowerCaseDirectiveNames('No-CaChE, MaX-AgE=60')).toBe('no-cache, max-age=60');
    const lower = 'max-age=60, private';
    expect(lowerCaseDirectiveNames(lower)).toBe(lower);
    expect(lowerCaseDirectiveNames('Max-Age=60, Private=Set-Cookie')).toBe('max-age=60, private=Set-Cookie');
  });
});
