// --max-connections, --max-connections-per-client, --headers-timeout, --keep-alive-timeout,
// --max-change-subscribers and the slow-reader limits as flags and config-file keys: defaults,
// parsing, and errors that name the flag and say what was expected; the per-client share `auto`
// resolves to an eighth of the total, at least 64.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { perClientShare } from '../../src/server/connection-table.js';

describe('listener limits in the configuration', () => {
  it('defaults to 4096 connections and a 60 s head timeout', () => {
    const config = loadConfig({}, {});
    expect(config.maxConnections).toBe(4096);
    expect(config.headersTimeoutMs).toBe(60_000);
  });

  it('reads --max-connections and --headers-timeout', () => {
    const config = loadConfig({ 'max-connections': '2', 'headers-timeout': '5s' }, {});
    expect(config.maxConnections).toBe(2);
    expect(config.headersTimeoutMs).toBe(5000);
  });

  it('reads maxConnections and headersTimeout from the config file', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'etag-proxy-')), 'config.yaml');
    writeFileSync(file, 'maxConnections: 100\nheadersTimeout: 10s\n');
    const config = loadConfig({ config: file }, {});
    expect(config.maxConnections).toBe(100);
    expect(config.headersTimeoutMs).toBe(10_000);
  });

  it('gives each client address a share of the connections: auto is an eighth of the total, at least 64, never above the total', () => {
    const config = loadConfig({}, {});
    expect(config.maxConnectionsPerClient).toBe('auto');
    expect(config.keepAliveTimeoutMs).toBe(30_000);
    expect(perClientShare(4096, 'auto')).toBe(512);
    expect(perClientShare(100, 'auto')).toBe(64);
    expect(perClientShare(10, 'auto')).toBe(10);
    expect(perClientShare(4096, 32)).toBe(32);
    expect(perClientShare(10, 32)).toBe(10);
  });

  it('reads --max-connections-per-client and --keep-alive-timeout, and their config-file keys', () => {
    const flags = loadConfig({ 'max-connections-per-client': '32', 'keep-alive-timeout': '5s' }, {});
    expect(flags.maxConnectionsPerClient).toBe(32);
    expect(flags.keepAliveTimeoutMs).toBe(5000);
    const file = join(mkdtempSync(join(tmpdir(), 'etag-proxy-')), 'config.yaml');
    writeFileSync(file, 'maxConnectionsPerClient: 16\nkeepAliveTimeout: 2s\n');
    const fromFile = loadConfig({ config: file }, {});
    expect(fromFile.maxConnectionsPerClient).toBe(16);
    expect(fromFile.keepAliveTimeoutMs).toBe(2000);
    expect(() => loadConfig({ 'max-connections-per-client': 'lots' }, {})).toThrow('--max-connections-per-client: expected an integer from 1 to 1000000, got "lots"');
  });

  it('names the flag and the expected form for a bad value', () => {
    expect(() => loadConfig({ 'max-connections': '0' }, {})).toThrow('--max-connections: expected an integer from 1 to 1000000, got "0"');
    expect(() => loadConfig({ 'headers-timeout': 'soon' }, {})).toThrow('--headers-timeout: expected a duration such as 30s, 250ms or 7d, got "soon"');
  });

  it('defaults to 64 change stream subscribers per process, and reads --max-change-subscribers and maxChangeSubscribers', () => {
    expect(loadConfig({}, {}).maxChangeSubscribers).toBe(64);
    expect(loadConfig({ 'max-change-subscribers': '8' }, {}).maxChangeSubscribers).toBe(8);
    const file = join(mkdtempSync(join(tmpdir(), 'etag-proxy-')), 'config.yaml');
    writeFileSync(file, 'maxChangeSubscribers: 3\n');
    expect(loadConfig({ config: file }, {}).maxChangeSubscribers).toBe(3);
    expect(() => loadConfig({ 'max-change-subscribers': '0' }, {})).toThrow('--max-change-subscribers: expected an integer from 1 to 100000, got "0"');
  });
});

describe('slow-reader limits in the configuration (issue 18)', () => {
  it('defaults to a 60 s send deadline, 256 connections per origin and 64 per client', () => {
    const config = loadConfig({}, {});
    expect(config.sendTimeoutMs).toBe(60_000);
    expect(config.originConnections).toBe(256);
    expect(config.originConnectionsPerClient).toBe(64);
  });

  it('reads the flags and the config-file keys; a send timeout of 0 turns the deadline off', () => {
    expect(loadConfig({ 'send-timeout': '0', 'origin-connections': '32', 'origin-connections-per-client': '8' }, {})).toMatchObject({
      sendTimeoutMs: 0,
      originConnections: 32,
      originConnectionsPerClient: 8,
    });
    const file = join(mkdtempSync(join(tmpdir(), 'etag-proxy-')), 'config.yaml');
    writeFileSync(file, 'sendTimeout: 15m\noriginConnections: 100\noriginConnectionsPerClient: 10\n');
    expect(loadConfig({ config: file }, {})).toMatchObject({ sendTimeoutMs: 900_000, originConnections: 100, originConnectionsPerClient: 10 });
  });

  it('names the flag and the expected form for a bad value', () => {
    expect(() => loadConfig({ 'send-timeout': 'never' }, {})).toThrow('--send-timeout: expected a duration such as 30s, 250ms or 7d, got "never"');
    expect(() => loadConfig({ 'origin-connections-per-client': '0' }, {})).toThrow('--origin-connections-per-client: expected an integer from 1 to 65536, got "0"');
  });
});
