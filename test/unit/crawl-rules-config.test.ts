// `rules:` validation: errors name the key path and say what was expected and what arrived;
// the config file's `rules:` section reaches the proxy config.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { parseCrawlRules } from '../../src/config/rules-schema.js';
import { CrawlRuleMatcher } from '../../src/policy/crawl-rules.js';

describe('rules: config shape', () => {
  it('parses the issue\'s example (durations in ms)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'crawl-rules-'));
    const file = join(dir, 'config.yaml');
    writeFileSync(
      file,
      [
        'rules:',
        '  - match: { host: "news.example", path: "/articles/*" }',
        '    override: [no-cache, no-store]',
        '    defaultTtl: 10m',
        '    maxTtl: 1h',
        '  - match: { url: "^https?://api\\\\.example/" }',
        '    heuristicPercent: 20',
      ].join('\n'),
    );
    const config = loadConfig({ config: file });
    expect(config.rules).toEqual([
      { match: { host: 'news.example', path: '/articles/*' }, override: ['no-cache', 'no-store'], defaultTtl: 600_000, maxTtl: 3_600_000 },
      { match: { url: '^https?://api\\.example/' }, heuristicPercent: 20 },
    ]);
  });

  it.each([
    [[{ match: { host: 'a' }, override: ['nostore'] }], 'rules[0].override[0]: expected no-store | no-cache | private | must-revalidate | expires, got "nostore"'],
    [[{ match: { host: 'a' }, defaultTtl: 'soon' }], 'rules[0].defaultTtl: expected a duration such as 30s, 250ms or 7d, got "soon"'],
    [[{ defaultTtl: '1m' }], 'rules[0].match: expected { host, path? } or { url }, got no value'],
    [[{ match: { url: '(' } }], 'rules[0].match.url: expected a regular expression'],
    [[{ match: { host: 'a', path: 'x' } }], 'rules[0].match.path: expected a path glob starting with /, got "x"'],
    [[{ match: { host: 'a' }, ttl: 1 }], 'rules[0].ttl: unknown key'],
    [[{ match: { host: 'a' }, heuristicPercent: 150 }], 'rules[0].heuristicPercent: expected an integer from 0 to 100, got 150'],
    [[{ match: { host: 'a' }, minTtl: '1h', maxTtl: '1m' }], 'rules[0].minTtl: expected at most maxTtl'],
    [{ match: { host: 'a' } }, 'rules: expected a list'],
    [[{ match: { host: 'a' }, statuses: [200, 99] }], 'rules[0].statuses[1]: expected an integer from 200 to 599, got 99'],
    [[{ match: { host: 'a' }, varyIgnore: ['user agent'] }], 'rules[0].varyIgnore[0]: expected a header field name'],
    [[{ match: { host: 'a' }, store: 'no' }], 'rules[0].store: expected true or false, got "no"'],
    [[{ match: { host: 'a' }, maxObjectSize: 'big' }], 'rules[0].maxObjectSize: expected a size'],
  ])('rejects %j naming the key', (value, message) => {
    expect(() => parseCrawlRules('rules', value)).toThrow(message);
  });

  // Patterns are compiled when loaded: linear-time matchers (issue 18 item 6), or a ConfigError.
  it.each([
    ['a url with lookahead', [{ match: { url: '^/a(?=b)' } }], 'rules[0].match.url: expected a regular expression in RE2 syntax (no lookaround or backreferences), got "^/a(?=b)"'],
    ['a url with a backreference', [{ match: { url: '(a)\\1' } }], 'rules[0].match.url: expected a regular expression in RE2 syntax'],
    ['a url over 1024 characters', [{ match: { url: 'a'.repeat(1025) } }], 'rules[0].match.url: expected a regular expression of at most 1024 characters, got 1025'],
    ['an extglob host', [{ match: { host: '@(a|b).example' } }], 'rules[0].match.host: expected a glob without extglobs such as @(…) (use {a,b} alternatives), got "@(a|b).example"'],
    ['a path over 1024 characters', [{ match: { host: 'a', path: `/${'*a'.repeat(600)}` } }], 'rules[0].match.path: expected a glob of at most 1024 characters, got "/*a*a'],
    ['an ignoreQuery glob over 1024 characters', [{ match: { host: 'a' }, ignoreQuery: ['utm_*', '*'.repeat(2000)] }], 'rules[0].ignoreQuery[1]: expected a glob of at most 1024 characters, got "****'],
  ])('rejects %s naming the key', (_what, value, message) => {
    expect(() => parseCrawlRules('rules', value)).toThrow(message);
  });
});

describe('--offline and --record', () => {
  it('are boolean flags, off by default, and offline is also a client rule setting', () => {
    expect(loadConfig({})).toMatchObject({ offline: false, record: false });
    expect(loadConfig({ offline: '', record: 'true' } as never)).toMatchObject({ offline: true, record: true });
    expect(() => loadConfig({ offline: 'maybe' } as never)).toThrow('--offline: expected true or false, got "maybe"');
    const dir = mkdtempSync(join(tmpdir(), 'crawl-rules-'));
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ policies: { clients: [{ match: 'replayer', offline: true }] }, rules: [{ match: { host: '*' }, record: true, offline: false }] }));
    const config = loadConfig({ config: file });
    expect(config.policies.clients).toEqual([{ match: 'replayer', offline: true }]);
    expect(config.rules).toEqual([{ match: { host: '*' }, record: true, offline: false }]);
  });
});

describe('matching', () => {
  it('per setting, the first matching rule in file order wins', () => {
    const matcher = new CrawlRuleMatcher(
      parseCrawlRules('rules', [
        { match: { host: '*.example', path: '/a/*' }, maxTtl: '1m' },
        { match: { host: '*' }, defaultTtl: '1h', maxTtl: '1d' },
      ]),
    );
    const resolved = matcher.resolve(new URL('http://www.EXAMPLE/a/b/c?x'));
    expect(resolved.settings).toEqual({ maxTtl: 60_000, defaultTtl: 3_600_000 });
    expect(resolved.from).toEqual({ maxTtl: 'rules[0]', defaultTtl: 'rules[1]' });
    expect(resolved.matched).toEqual(['rules[0]', 'rules[1]']);
    expect(matcher.resolve(new URL('http://www.example/b')).from).toEqual({ maxTtl: 'rules[1]', defaultTtl: 'rules[1]' });
  });
});
