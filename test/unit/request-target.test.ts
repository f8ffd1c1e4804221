// http/request-target.ts: the three request-target forms a proxy meets (RFC 9112 §3.2).
import { describe, expect, it } from 'vitest';
import { ProxyError } from '../../src/errors.js';
import { parseRequestTarget } from '../../src/http/request-target.js';

function rejection(method: string, target: string | undefined): ProxyError {
  try {
    parseRequestTarget(method, target);
  } catch (error) {
    if (error instanceof ProxyError) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(target)} to be rejected`);
}

describe('parseRequestTarget (RFC 9112 §3.2)', () => {
  it('reads the absolute-form, keeping the path and query as sent and dropping the fragment', () => {
    const target = parseRequestTarget('GET', 'http://Example.com:8080//a//b?q=%2F#frag');

    expect(target.form).toBe('absolute');
    if (target.form !== 'absolute') return;
    expect(target.url.host).toBe('example.com:8080');
    expect(target.url.pathname).toBe('//a//b');
    expect(target.url.search).toBe('?q=%2F');
    expect(target.url.hash).toBe('');
  });

  it('reads an https:// absolute-form too: the proxy speaks TLS to the origin', () => {
    const target = parseRequestTarget('GET', 'https://Example.com/a?b');

    expect(target.form).toBe('absolute');
    if (target.form !== 'absolute') return;
    expect(target.url.protocol).toBe('https:');
    expect(target.url.host).toBe('example.com');
  });

  it('reads the origin-form as a request to the proxy itself', () => {
    expect(parseRequestTarget('GET', '/help')).toEqual({ form: 'origin', path: '/help' });
  });

  it('reads the authority-form for CONNECT, IPv6 literals included', () => {
    expect(parseRequestTarget('CONNECT', 'example.com:443')).toEqual({ form: 'authority', host: 'example.com', port: 443 });
    expect(parseRequestTarget('CONNECT', '[::1]:8443')).toEqual({ form: 'authority', host: '::1', port: 8443 });
  });

  it.each([
    ['GET', 'http://[::1/'],
    ['GET', 'ftp://example.com/'],
    ['GET', 'http://user:secret@example.com/'],
    ['GET', 'example.com/path'],
    ['CONNECT', 'example.com'],
    ['CONNECT', 'example.com:0'],
    ['CONNECT', 'example.com:70000'],
    ['CONNECT', 'http://example.com:443'],
  ])('answers %s %s with 400 bad_target', (method, target) => {
    const error = rejection(method, target);

    expect(error.status).toBe(400);
    expect(error.code).toBe('bad_target');
  });

  it('answers a missing target with 400', () => {
    expect(rejection('GET', undefined).status).toBe(400);
  });
});
