// deploy/ (Prometheus and Grafana) in step with the proxy without Docker: the dashboard JSON
// parses, uses the provisioned datasource, and every metric and label its PromQL names exists
// in a live proxy's /metrics; Prometheus scrapes the admin listener with the token from a file
// and a Host the admin API accepts; docker-compose.yml runs both in the `monitoring` profile.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startAdminServer, type AdminServer } from '../../src/admin/admin-server.js';
import { COUNTERS, OUTCOMES } from '../../src/observe/counters.js';
import { silentLogger } from '../../src/observe/log.js';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { parsePrometheusText, type Family } from '../helpers/prometheus.js';
import { emptyParents, parseParents } from '../../src/parents/config.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';

interface Panel {
  title: string;
  datasource: { type: string; uid: string };
  targets: Array<{ expr: string; datasource: { uid: string } }>;
}

const dashboard = JSON.parse(readFileSync('deploy/grafana/dashboards/etag-proxy.json', 'utf8')) as { uid: string; panels: Panel[] };
const datasources = parse(readFileSync('deploy/grafana/provisioning/datasources/prometheus.yml', 'utf8')) as { datasources: Array<{ uid: string; type: string; url: string }> };
const providers = parse(readFileSync('deploy/grafana/provisioning/dashboards/etag-proxy.yml', 'utf8')) as { providers: Array<{ options: { path: string } }> };
const prometheus = parse(readFileSync('deploy/prometheus/prometheus.yml', 'utf8')) as {
  scrape_configs: Array<{ metrics_path: string; authorization: { credentials_file: string }; static_configs: Array<{ targets: string[] }> }>;
};
const compose = parse(readFileSync('docker-compose.yml', 'utf8')) as {
  services: Record<string, { profiles?: string[]; network_mode?: string; volumes?: string[]; secrets?: string[]; ports?: string[]; command?: string[] }>;
  secrets: Record<string, { environment?: string }>;
};

const exprs = dashboard.panels.flatMap((panel) => panel.targets.map((target) => target.expr));
/** PromQL words that are neither metric nor label names. */
const PROMQL = new Set(['sum', 'max', 'by', 'rate', 'increase', 'histogram_quantile', 'topk', 'le']);
const SUFFIXES = ['_bucket', '_sum', '_count'] as const;
const KNOWN_LABELS = new Map<string, Set<string>>(Object.values(COUNTERS).map((row) => [row.name, new Set<string>(row.labels)]));

/** The metric family a sample name belongs to (`x_bucket` → `x` for histograms). */
function familyOf(name: string, families: Map<string, Family>): string | undefined {
  if (families.has(name)) return name;
  const suffix = SUFFIXES.find((s) => name.endsWith(s));
  const base = suffix && name.slice(0, -suffix.length);
  return base && families.get(base)?.type === 'histogram' ? base : undefined;
}

let origin: Origin;
let proxy: TestProxy;
let admin: AdminServer;
let families: Map<string, Family>;

beforeAll(async () => {
  origin = await startOrigin({ '*': (_req, res) => void res.writeHead(200, { 'cache-control': 'max-age=60' }).end('x') });
  // A parent pool no request is routed to: its per-pool series exist (at 0) for the panels to name.
  proxy = await startProxy({ metricsTopHosts: 5, parents: parseParents('parents', { pools: { pool: { parents: ['http://127.0.0.1:9'], pricePerGB: 1 } }, default: 'direct' }, emptyParents()) });
  admin = await startAdminServer(proxy.proxy, { port: 0, host: '127.0.0.1', token: 't0ken' }, silentLogger);
  await viaProxy(proxy.url, `${origin.url}/a`);
  await viaProxy(proxy.url, `${origin.url}/a`);
  const res = await fetch(`${admin.url}/metrics`, { headers: { authorization: 'Bearer t0ken' } });
  expect(res.status).toBe(200);
  families = parsePrometheusText(await res.text());
});
afterAll(async () => {
  await admin?.close();
  await proxy?.stop();
  await origin?.close();
});

describe('the Grafana dashboard (deploy/grafana/dashboards/etag-proxy.json)', () => {
  it('every panel queries the provisioned Prometheus datasource', () => {
    expect(dashboard.panels.length).toBeGreaterThanOrEqual(10);
    const uid = datasources.datasources[0]!.uid;
    expect(datasources.datasources[0]!.type).toBe('prometheus');
    for (const panel of dashboard.panels) {
      expect(panel.datasource.uid, panel.title).toBe(uid);
      expect(panel.targets.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets) expect(target.datasource.uid, panel.title).toBe(uid);
    }
  });

  it('names only metrics that a live proxy\'s /metrics exposes, and covers every family but the per-host one\'s siblings', () => {
    const used = new Set(exprs.flatMap((expr) => expr.match(/\betag_proxy_[a-z_]+/g) ?? []));
    expect(used.size).toBeGreaterThan(10);
    for (const name of used) expect(familyOf(name, families), `${name} is in /metrics`).toBeDefined();
    // Each family of the table has a panel.
    const usedFamilies = new Set([...used].map((name) => familyOf(name, families)));
    for (const row of Object.values(COUNTERS)) expect(usedFamilies, `${row.name} has a panel`).toContain(row.name);
  });

  it('groups and filters only by labels those metrics have, with outcome values the proxy counts', () => {
    for (const expr of exprs) {
      const metrics = expr.match(/\betag_proxy_[a-z_]+/g) ?? [];
      const labels = new Set(metrics.flatMap((name) => [...(KNOWN_LABELS.get(familyOf(name, families)!) ?? [])]));
      labels.add('le');
      for (const [, list] of expr.matchAll(/by \(([^)]*)\)/g)) for (const label of list!.split(',').map((l) => l.trim())) expect(labels, `${label} in ${expr}`).toContain(label);
      for (const [, label, values] of expr.matchAll(/([a-z_]+)=~?"([^"]*)"/g)) {
        expect(labels, `${label} in ${expr}`).toContain(label);
        if (label === 'outcome') for (const value of values!.split('|')) expect(OUTCOMES, expr).toContain(value);
      }
      for (const word of expr.match(/\b[a-z_]+(?=\s*\()/g) ?? []) expect(PROMQL.has(word) || word === 'by', `${word} in ${expr}`).toBe(true);
    }
  });

  it('is loaded from the folder the dashboard provider reads', () => {
    const mount = compose.services['grafana']!.volumes!.find((v) => v.startsWith('./deploy/grafana/dashboards:'));
    expect(mount?.split(':')[1]).toBe(providers.providers[0]!.options.path);
  });
});

describe('Prometheus and the monitoring profile', () => {
  it('scrapes the admin /metrics with the token from the compose secret, as 127.0.0.1:8081', () => {
    const job = prometheus.scrape_configs[0]!;
    expect(job.metrics_path).toBe('/metrics');
    expect(job.authorization.credentials_file).toBe('/run/secrets/etag-proxy-admin-token');
    expect(job.static_configs[0]!.targets).toEqual(['127.0.0.1:8081']);
    expect(compose.secrets['etag-proxy-admin-token']).toEqual({ environment: 'ETAG_PROXY_ADMIN_TOKEN' });
    expect(compose.services['prometheus']!.secrets).toEqual(['etag-proxy-admin-token']);
    // In proxy-a's network namespace: 127.0.0.1:8081 is proxy-a's admin listener.
    expect(compose.services['prometheus']!.network_mode).toBe('service:proxy-a');
    expect(compose.services['proxy-a']!.command).toEqual(expect.arrayContaining(['--admin-port', '8081']));
    expect(datasources.datasources[0]!.url).toBe('http://proxy-a:9090');
  });

  it('runs Prometheus and Grafana only with --profile monitoring, Grafana published on 127.0.0.1', () => {
    for (const name of ['prometheus', 'grafana']) expect(compose.services[name]!.profiles, name).toEqual(['monitoring']);
    for (const name of ['redis', 'origin', 'proxy-a', 'proxy-b', 'client']) expect(compose.services[name]!.profiles, name).toBeUndefined();
    expect(compose.services['grafana']!.ports).toEqual(['127.0.0.1:3000:3000']);
  });
});
