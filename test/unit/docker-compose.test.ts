// docker-compose.yml stays safe and in step with the CLI without a Docker engine: it parses,
// publishes ports on 127.0.0.1 only, keeps Redis unpublished, requires the admin token from the
// environment, and every proxy command is accepted by the same config loader the CLI uses.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { OPTIONS, type OptionName } from '../../src/config/options.js';

interface Service {
  image?: string;
  build?: string;
  command?: string[] | string;
  ports?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test?: string[] };
  depends_on?: string[] | Record<string, { condition?: string }>;
}

const compose = parse(readFileSync('docker-compose.yml', 'utf8')) as { services: Record<string, Service> };
const proxies = Object.entries(compose.services).filter(([, service]) => service.build === '.');

/** `--flag value` pairs as the CLI would read them. */
function flagsOf(command: string[]): Partial<Record<OptionName, unknown>> {
  const flags: Partial<Record<OptionName, unknown>> = {};
  for (let i = 0; i < command.length; i += 2) {
    const name = command[i]!.replace(/^--/, '') as OptionName;
    expect(OPTIONS, `${command[i]} is a flag of the CLI`).toHaveProperty(name);
    flags[name] = command[i + 1];
  }
  return flags;
}

describe('docker-compose.yml', () => {
  it('has the proxies, Redis, the origin and the client (and Prometheus and Grafana: test/observe/monitoring.test.ts)', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['client', 'grafana', 'origin', 'prometheus', 'proxy-a', 'proxy-b', 'redis']);
    expect(proxies.map(([name]) => name)).toEqual(['proxy-a', 'proxy-b']);
  });

  it('publishes every port on 127.0.0.1 only, and none for Redis', () => {
    const published = Object.values(compose.services).flatMap((service) => service.ports ?? []);
    expect(published.length).toBeGreaterThan(0);
    for (const port of published) expect(port).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
    expect(compose.services['redis']!.ports).toBeUndefined();
  });

  it('starts every proxy only once Redis answers PING (a healthcheck, and depends_on: service_healthy)', () => {
    expect(compose.services['redis']!.healthcheck?.test).toEqual(['CMD', 'redis-cli', 'ping']);
    for (const [name, service] of proxies) {
      expect(service.depends_on, name).toMatchObject({ redis: { condition: 'service_healthy' } });
    }
  });

  it('requires the admin token from ETAG_PROXY_ADMIN_TOKEN wherever the admin API runs', () => {
    for (const [name, service] of proxies) {
      const command = service.command as string[];
      if (!command.includes('--admin-port')) continue;
      expect(service.environment?.['ETAG_PROXY_ADMIN_TOKEN'], name).toMatch(/^\$\{ETAG_PROXY_ADMIN_TOKEN:\?.+\}$/);
      expect(command, name).not.toContain('--admin-token');
    }
  });

  it.each(proxies)('the command of %s is valid for the CLI (and needs the token when it has an admin API)', (name, service) => {
    const flags = flagsOf(service.command as string[]);

    const config = loadConfig(flags, { ETAG_PROXY_ADMIN_TOKEN: 'from-the-environment' });

    expect(config.host).toBe('0.0.0.0');
    if (flags['admin-port'] !== undefined) {
      expect(config.admin.token).toBe('from-the-environment');
      expect(() => loadConfig(flags, {})).toThrow(/--admin-host: 0\.0\.0\.0 is not a loopback address/);
    }
  });
});
