// Pure parts of invariant 4 (secrets never logged): the query-parameter table and URL
// redaction (observe/redact.ts), and secrets given by file or environment (config/secrets.ts,
// config/load.ts), including flags given without a value.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { withStorePassword } from '../../src/config/secrets.js';
import { isSecretQueryParam, redactUrl, SECRET_QUERY_PARAMS } from '../../src/observe/redact.js';

const tmp = mkdtempSync(join(tmpdir(), 'etag-proxy-secrets-unit-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('redactUrl', () => {
  it('replaces the value of every parameter in the table, in any case, and keeps the rest byte for byte', () => {
    for (const name of SECRET_QUERY_PARAMS) {
      expect(redactUrl(`http://h/p?a=%2F1&${name}=s3cr3t&b=2`)).toBe(`http://h/p?a=%2F1&${name}=***&b=2`);
      expect(redactUrl(`/p?${name.toUpperCase()}=s3cr3t`)).toBe(`/p?${name.toUpperCase()}=***`);
    }
  });

  it('names ending in _token, -signature, _key … and percent-encoded names', () => {
    expect(redactUrl('http://h/?oauth_token=1&X-Amz-Signature=2&x-api-key=3&monkey=4')).toBe('http://h/?oauth_token=***&X-Amz-Signature=***&x-api-key=***&monkey=4');
    expect(redactUrl('http://h/?%74oken=1')).toBe('http://h/?%74oken=***');
    expect(isSecretQueryParam('tokens')).toBe(false);
  });

  it('the password of userinfo; a URL with nothing secret is returned as it is', () => {
    expect(redactUrl('redis://user:pw@127.0.0.1:6379/0')).toBe('redis://user:***@127.0.0.1:6379/0');
    expect(redactUrl('redis://:pw@127.0.0.1:6379')).toBe('redis://:***@127.0.0.1:6379');
    expect(redactUrl('http://a:b@h/x?token=t')).toBe('http://a:***@h/x?token=***');
    const plain = 'http://h//double//slashes/a%2Fb?path=%2Fx%2F&q';
    expect(redactUrl(plain)).toBe(plain);
    expect(redactUrl('http://h/x?a=1#access_token=t')).toBe('http://h/x?a=1');
  });
});

describe('store password', () => {
  it('joins the URL percent-encoded, with or without a user name', () => {
    expect(withStorePassword('k', 'redis://127.0.0.1:6379/0', 'p@ss:/w')).toBe('redis://:p%40ss%3A%2Fw@127.0.0.1:6379/0');
    expect(withStorePassword('k', 'rediss://app@redis.example:6380', 'pw')).toBe('rediss://app:pw@redis.example:6380');
    expect(withStorePassword('k', 'redis+cluster://a:1,b:2', 'pw')).toBe('redis+cluster://:pw@a:1,b:2');
  });

  it('from ETAG_PROXY_STORE_PASSWORD: kept out of config.store; ignored with the memory store', () => {
    const config = loadConfig({ store: 'redis://127.0.0.1:6379' }, { ETAG_PROXY_STORE_PASSWORD: 'pw' });
    expect(config.store).toBe('redis://127.0.0.1:6379');
    expect(config.storePassword).toBe('pw');
    expect(loadConfig({}, { ETAG_PROXY_STORE_PASSWORD: 'pw' }).storePassword).toBeUndefined();
  });

  it('from --store-password-file (wins over the environment); refused with the memory store or a URL that has one', () => {
    const file = join(tmp, 'pw');
    writeFileSync(file, 'from-file\n');
    expect(loadConfig({ store: 'redis://h:1', 'store-password-file': file }, { ETAG_PROXY_STORE_PASSWORD: 'env' }).storePassword).toBe('from-file');
    expect(() => loadConfig({ 'store-password-file': file }, {})).toThrow('--store-password-file: a store password needs a Redis store');
    expect(() => loadConfig({ store: 'redis://u:old@h:1' }, { ETAG_PROXY_STORE_PASSWORD: 'new' })).toThrow(
      'ETAG_PROXY_STORE_PASSWORD: the store URL already holds a password; give it in one place',
    );
  });

  it('a malformed store URL is reported without its password', () => {
    expect(() => loadConfig({ store: 'http://u:hunter2@h' }, {})).toThrow('--store: expected memory, disk:PATH, redis://host:port/db, rediss://… or redis+cluster://host1:port1,host2:port2, got "http://u:***@h"');
  });
});

describe('admin token file', () => {
  it('is read without its final newline; --admin-token and --admin-token-file together are refused', () => {
    const file = join(tmp, 'token');
    writeFileSync(file, 'abc123\n');
    expect(loadConfig({ 'admin-token-file': file }, { ETAG_PROXY_ADMIN_TOKEN: 'env' }).admin.token).toBe('abc123');
    expect(() => loadConfig({ 'admin-token-file': file, 'admin-token': 'x' }, {})).toThrow('give either --admin-token or --admin-token-file');
    writeFileSync(file, 'a\nb\n');
    expect(() => loadConfig({ 'admin-token-file': file }, {})).toThrow('holds several lines');
  });

  it('from the config file as adminTokenFile', () => {
    const token = join(tmp, 'token2');
    writeFileSync(token, 'from-config');
    const config = join(tmp, 'c.yaml');
    writeFileSync(config, `adminTokenFile: ${token}\nshutdownTimeout: 3s\nstorePasswordFile: ${token}\nstore: redis://h:1\n`);
    const loaded = loadConfig({ config }, {});
    expect(loaded.admin.token).toBe('from-config');
    expect(loaded.shutdownTimeoutMs).toBe(3000);
    expect(loaded.storePassword).toBe('from-config');
  });
});

describe('flags given without a value', () => {
  it('a boolean flag alone is true; any other is missing its value', () => {
    expect(loadConfig({ 'require-auth': '' }, {}).identity.requireAuth).toBe(true);
    expect(() => loadConfig({ port: '' }, {})).toThrow('--port: expected an integer from 0 to 65535, got no value');
    expect(() => loadConfig({ 'shutdown-timeout': '' }, {})).toThrow('--shutdown-timeout: expected a duration such as 30s, 250ms or 7d, got no value');
  });
});
