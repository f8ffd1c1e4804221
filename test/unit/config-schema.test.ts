// config/schema.ts: sizes, durations and policies from flags or files; errors name the key path
// and say what was expected and what arrived.
import { describe, expect, it } from 'vitest';
import { parseDuration, parsePolicies, parseSize } from '../../src/config/schema.js';
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
});
