// The table of which client request fields go upstream on which path (src/http/upstream-fields.ts),
// pinned: a change to a row is a change of what origins see, and shows up here as well as on the
// wire (test/proxy, test/security, test/rfc9111).
import { describe, expect, it } from 'vitest';
import { HOP_BY_HOP } from '../../src/http/hop-by-hop.js';
import { notCopied, upstreamRule, UPSTREAM_FIELDS, UPSTREAM_PATHS, type UpstreamPath } from '../../src/http/upstream-fields.js';

const IDENTITY = ['x-proxy-client'];

/** path → rule, in UPSTREAM_PATHS order: miss, revalidation, pass, unsafe, upgrade. */
function row(name: string, proxyOwn: readonly string[] = []): string {
  return UPSTREAM_PATHS.map((path) => upstreamRule(name, path, proxyOwn)).join(' ');
}

describe('upstream fields table', () => {
  it('has the paths miss, revalidation, pass, unsafe and upgrade', () => {
    expect(UPSTREAM_PATHS).toEqual(['miss', 'revalidation', 'pass', 'unsafe', 'upgrade']);
  });

  it('reads as pinned, row by row (miss revalidation pass unsafe upgrade)', () => {
    const table = Object.fromEntries(Object.keys(UPSTREAM_FIELDS).map((name) => [name, row(name)]));
    expect(table).toEqual({
      host: 'own own own own own',
      via: 'adjusted adjusted adjusted adjusted adjusted',
      'max-forwards': 'sent sent sent adjusted sent',
      expect: 'dropped dropped dropped dropped dropped',
      'content-length': 'dropped dropped own own dropped',
      'transfer-encoding': 'dropped dropped own own dropped',
      'if-none-match': 'planned own planned sent sent',
      'if-modified-since': 'planned own planned sent sent',
      range: 'planned dropped planned sent sent',
      'if-range': 'planned dropped planned sent sent',
      connection: 'dropped dropped dropped dropped own',
      upgrade: 'dropped dropped dropped dropped own',
      'proxy-authorization': 'dropped dropped dropped dropped dropped',
    });
  });

  it('sends a field in no row as the client sent it, and never the client\'s value of a hop-by-hop one (RFC 9110 §7.6.1): at most the proxy\'s own', () => {
    expect(row('user-agent')).toBe('sent sent sent sent sent');
    expect(row('authorization')).toBe('sent sent sent sent sent');
    for (const name of HOP_BY_HOP) {
      if (!(name in UPSTREAM_FIELDS)) expect(row(name), name).toBe('dropped dropped dropped dropped dropped');
      for (const path of UPSTREAM_PATHS) expect(['own', 'dropped'], `${name} on ${path}`).toContain(upstreamRule(name, path));
    }
  });

  it('never sends the fields a deployment names for the proxy (identity header, parents\' session header) nor Proxy-Authorization (invariant 7)', () => {
    expect(row('x-proxy-client', IDENTITY)).toBe('dropped dropped dropped dropped dropped');
    expect(row('x-proxy-client')).toBe('sent sent sent sent sent');
    expect(row('proxy-authorization', IDENTITY)).toBe('dropped dropped dropped dropped dropped');
  });

  it('never copies the client\'s framing (invariant 1), nor its validators onto a revalidation (STYLE.md trap 1)', () => {
    for (const path of UPSTREAM_PATHS) {
      for (const name of ['content-length', 'transfer-encoding']) expect(['own', 'dropped']).toContain(upstreamRule(name, path));
    }
    for (const name of ['if-none-match', 'if-modified-since', 'if-range', 'range']) expect(['own', 'dropped']).toContain(upstreamRule(name, 'revalidation'));
  });

  it('gives each path the set of fields it does not copy, built once', () => {
    const sets: Record<UpstreamPath, string[]> = {
      miss: ['host', 'expect', 'content-length', 'transfer-encoding', 'if-none-match', 'if-modified-since', 'range', 'if-range', 'connection', 'upgrade', 'proxy-authorization', 'x-proxy-client'],
      revalidation: ['host', 'expect', 'content-length', 'transfer-encoding', 'if-none-match', 'if-modified-since', 'range', 'if-range', 'connection', 'upgrade', 'proxy-authorization', 'x-proxy-client'],
      pass: ['host', 'expect', 'content-length', 'transfer-encoding', 'if-none-match', 'if-modified-since', 'range', 'if-range', 'connection', 'upgrade', 'proxy-authorization', 'x-proxy-client'],
      unsafe: ['host', 'expect', 'content-length', 'transfer-encoding', 'connection', 'upgrade', 'proxy-authorization', 'x-proxy-client'],
      upgrade: ['host', 'expect', 'content-length', 'transfer-encoding', 'connection', 'upgrade', 'proxy-authorization', 'x-proxy-client'],
    };
    for (const path of UPSTREAM_PATHS) {
      expect([...notCopied(path, IDENTITY)].sort(), path).toEqual(sets[path].sort());
      expect(notCopied(path, IDENTITY)).toBe(notCopied(path, IDENTITY));
    }
  });
});
