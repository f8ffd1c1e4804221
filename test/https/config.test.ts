// The HTTPS settings in the config file and on the command line: intercept (true or host globs),
// passthrough, caDir, upstreamCa, insecureUpstream; errors name the key and say what was expected.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';

const dir = mkdtempSync(join(tmpdir(), 'etag-proxy-https-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fromFile(yaml: string) {
  const file = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, yaml);
  return loadConfig({ config: file }, {});
}

describe('HTTPS configuration', () => {
  it('reads intercept as true or as a list of host globs, and passthrough as a list', () => {
    expect(fromFile('intercept: true\n').intercept).toBe(true);
    const listed = fromFile('intercept: ["*.Example.com", shop.test]\npassthrough: ["*.bank.example"]\ncaDir: /etc/etag-proxy/ca\n');
    expect(listed.intercept).toEqual(['*.example.com', 'shop.test']);
    expect(listed.passthrough).toEqual(['*.bank.example']);
    expect(listed.caDir).toBe('/etc/etag-proxy/ca');
  });

  it('takes the flags: --intercept, --passthrough as a comma-separated list, --upstream-ca, --insecure-upstream', () => {
    const config = loadConfig({ intercept: true, passthrough: 'a.test, *.b.test', 'upstream-ca': '/x/ca.pem', 'insecure-upstream': true }, {});
    expect(config.intercept).toBe(true);
    expect(config.passthrough).toEqual(['a.test', '*.b.test']);
    expect(config.upstreamCa).toBe('/x/ca.pem');
    expect(config.insecureUpstream).toBe(true);
    expect(loadConfig({}, {}).intercept).toBe(false);
  });

  it('names the key and what was expected for a bad value', () => {
    expect(() => fromFile('intercept: yes please\n')).toThrow('intercept: expected true, false or a list of host globs such as ["*.example.com"], got "yes please"');
    expect(() => fromFile('passthrough: [1]\n')).toThrow('passthrough: expected a list of host names or globs such as ["*.example.com"], got [1]');
  });
});
