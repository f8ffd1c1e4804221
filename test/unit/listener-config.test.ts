// --max-connections, --headers-timeout, --max-change-subscribers and the slow-reader limits as
// flags and config-file keys: defaults, parsing, and errors that name the flag and say what was expected.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';

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
