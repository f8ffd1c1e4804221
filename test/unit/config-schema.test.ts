// config/schema.ts: sizes, durations and policies from flags or files; errors name the key path
// and say what was expected and what arrived.
import { describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import { parseDuration, parseHostList, parseIntercept, parsePolicies, parseSize, parseStore } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';

describe('parseSize', () => {
  it.each([
    ['256MiB', 256 * 1024 * 1024],
    ['16 MB', 16_000_000],
    ['1024', 1024],
    ['1.5KiB', 1536],
    [4096, 4096],
  ])('reads %s', (value, expected) => {
    expect(parseSize('cacheSize', value)).toBe(expected);
  });

  it('names the key and what arrived when the value is not a size', () => {
    expect(() => parseSize('maxObjectSize', '16 parsecs')).toThrow(ConfigError);
    expect(() => parseSize('maxObjectSize', '16 parsecs')).toThrow('maxObjectSize: expected a size such as 256MiB, 16MB or 1024, got "16 parsecs"');
    expect(() => parseSize('cacheSize', -1)).toThrow(/^cacheSize: expected .*, got -1$/);
  });
});

describe('parseStore: disk', () => {
  it('reads disk:PATH as the absolute directory (relative to the working directory)', () => {
    expect(parseStore('store', 'disk:/var/cache/etag-proxy')).toBe('disk:/var/cache/etag-proxy');
    expect(parseStore('store', 'disk:./cache')).toBe(`disk:${resolve('cache')}`);
  });

  it('names the key and what was expected when the directory is missing', () => {
    expect(() => parseStore('store', 'disk:')).toThrow('store: expected disk:PATH with the directory that holds the cache (disk:./cache, disk:/var/cache/etag-proxy), got "disk:"');
    expect(() => parseStore('store', 'dsik:/x')).toThrow(/^store: expected memory, disk:PATH, redis:/);
  });
});

describe('parseDuration', () => {
  it.each([
    ['30s', 30_000],
    ['250ms', 250],
    ['7d', 7 * 86_400_000],
    ['1500', 1500],
    [300, 300],
  ])('reads %s', (value, expected) => {
    expect(parseDuration('upstreamTimeout', value)).toBe(expected);
  });

  it('names the key and what arrived when the value is not a duration', () => {
    expect(() => parseDuration('upstreamTimeout', 'soon')).toThrow('upstreamTimeout: expected a duration such as 30s, 250ms or 7d, got "soon"');
  });
});

describe('parsePolicies', () => {
  it('reads defaults, client rules and host rules', () => {
    const rules = parsePolicies('policies', {
      default: { validators: 'strip' },
      clients: [{ match: 'scraper-*', validators: 'isolate' }],
      hosts: [{ match: 'api.example.com', requestCacheControl: 'ignore' }],
    });

    expect(rules).toEqual({
      default: { validators: 'strip' },
      clients: [{ match: 'scraper-*', validators: 'isolate' }],
      hosts: [{ match: 'api.example.com', requestCacheControl: 'ignore' }],
    });
  });

  it('names the rule\'s key path when a mode is misspelt', () => {
    expect(() =>
      parsePolicies('policies', { clients: [{ match: 'a', validators: 'pass' }, { match: 'b', validators: 'pass' }, { match: 'c', validators: 'stirp' }] }),
    ).toThrow('policies.clients[2].validators: expected pass | strip | isolate, got "stirp"');
  });

  it('names an unknown key', () => {
    expect(() => parsePolicies('policies', { default: { validator: 'strip' } })).toThrow(/^policies\.default\.validator: unknown key/);
  });

  it('names a rule that sets nothing', () => {
    expect(() => parsePolicies('policies', { hosts: [{ match: 'x' }] })).toThrow(/^policies\.hosts\[0\]: expected at least one of validators, requestCacheControl/);
  });

  it('names a list that is not a list', () => {
    expect(() => parsePolicies('policies', { clients: 'everyone' })).toThrow('policies.clients: expected a list of rules, got "everyone"');
  });

  it('names a client or host glob the matcher refuses (compiled when loaded, issue 18 item 6)', () => {
    expect(() => parsePolicies('policies', { clients: [{ match: '+(a|b)', validators: 'strip' }] })).toThrow(
      'policies.clients[0].match: expected a glob without extglobs such as +(…) (use {a,b} alternatives), got "+(a|b)"',
    );
    expect(() => parsePolicies('policies', { hosts: [{ match: `${'*a'.repeat(600)}.example`, validators: 'strip' }] })).toThrow(
      /^policies\.hosts\[0\]\.match: expected a glob of at most 1024 characters, got "\*a\*a.*…" \(1208 characters\)$/,
    );
  });
});

describe('--intercept / --passthrough host globs', () => {
  it('are compiled when loaded: a refused glob names the flag (and the list index)', () => {
    expect(parseHostList('--passthrough', 'A.test, *.b.test')).toEqual(['a.test', '*.b.test']);
    expect(() => parseHostList('--passthrough', 'a.test,[[:alpha:]].test')).toThrow(
      '--passthrough: expected a glob without POSIX classes such as [[:alpha:]] (use [a-z]), got "[[:alpha:]].test"',
    );
    expect(() => parseIntercept('intercept', ['ok.test', 'host{1..3}.test'])).toThrow('intercept[1]: expected a glob without ranges such as {1..3} (list them: {1,2,3}), got "host{1..3}.test"');
  });
});
