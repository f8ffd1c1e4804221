// http/conditionals.ts: evaluating a client's If-None-Match / If-Modified-Since against a stored
// response (RFC 9110 §13.1.2, §13.1.3, precedence §13.2.2; RFC 9111 §4.3.2).
import { describe, expect, it } from 'vitest';
import { hasValidators, notModified, parseEtagList, weakMatch } from '../../src/http/conditionals.js';

const lastModified = 'Tue, 01 Jul 2025 10:00:00 GMT';

describe('parseEtagList (RFC 9110 §13.1.2)', () => {
  it('reads a list of strong and weak entity-tags with optional whitespace', () => {
    expect(parseEtagList('"a", W/"b",  "c,d"')).toEqual(['"a"', 'W/"b"', '"c,d"']);
  });

  it('reads the * form', () => {
    expect(parseEtagList('*')).toEqual(['*']);
  });

  it('stops at text that is not an entity-tag', () => {
    expect(parseEtagList('unquoted')).toEqual([]);
  });
});

describe('weakMatch (RFC 9110 §8.8.3.2)', () => {
  it.each([
    ['"1"', '"1"', true],
    ['W/"1"', '"1"', true],
    ['W/"1"', 'W/"1"', true],
    ['"1"', '"2"', false],
    ['W/"1"', 'W/"2"', false],
  ])('%s against %s → %s', (a, b, expected) => {
    expect(weakMatch(a, b)).toBe(expected);
  });
});

describe('notModified (RFC 9111 §4.3.2)', () => {
  it('is true when If-None-Match names the stored ETag, weakly', () => {
    expect(notModified({ ifNoneMatch: 'W/"x"' }, { etag: '"x"' })).toBe(true);
    expect(notModified({ ifNoneMatch: '"y", "x"' }, { etag: '"x"' })).toBe(true);
  });

  it('is true for If-None-Match: * when a representation is stored', () => {
    expect(notModified({ ifNoneMatch: '*' }, { etag: '"x"' })).toBe(true);
  });

  it('is false when the stored response has no ETag', () => {
    expect(notModified({ ifNoneMatch: '"x"' }, { lastModified })).toBe(false);
  });

  it('ignores If-Modified-Since when If-None-Match is present (RFC 9110 §13.2.2)', () => {
    expect(notModified({ ifNoneMatch: '"other"', ifModifiedSince: lastModified }, { etag: '"x"', lastModified })).toBe(false);
  });

  it('compares If-Modified-Since with Last-Modified', () => {
    expect(notModified({ ifModifiedSince: lastModified }, { lastModified })).toBe(true);
    expect(notModified({ ifModifiedSince: 'Tue, 01 Jul 2025 09:59:59 GMT' }, { lastModified })).toBe(false);
  });

  it('compares If-Modified-Since with Date when there is no Last-Modified (RFC 9111 §4.3.2)', () => {
    expect(notModified({ ifModifiedSince: lastModified }, { date: lastModified })).toBe(true);
  });

  it('is false for an unparseable If-Modified-Since', () => {
    expect(notModified({ ifModifiedSince: 'yesterday' }, { lastModified })).toBe(false);
  });

  it('is false without validators', () => {
    expect(notModified({}, { etag: '"x"', lastModified })).toBe(false);
    expect(hasValidators({})).toBe(false);
    expect(hasValidators({ ifModifiedSince: lastModified })).toBe(true);
  });
});
