// GET /metrics (Prometheus text exposition) and GET /stats (the same numbers as JSON, see
// observe/stats.ts). With --workers both show the sum over every worker (observe/cluster-metrics.ts).
// The listener's rules (Host check, bearer token) apply before these run.
import { ProxyError } from '../errors.js';
import type { Proxy } from '../index.js';
import { snapshot, type MetricsSnapshot } from '../observe/cluster-metrics.js';
import { statsOf } from '../observe/stats.js';
import type { AdminRoute } from './admin-route.js';

async function collect(proxy: Proxy): Promise<MetricsSnapshot> {
  try {
    return await snapshot(proxy.ctx.metrics);
  } catch (error) {
    throw new ProxyError(503, 'metrics_unavailable', (error as Error).message);
  }
}

export function createMetricsRoutes(proxy: Proxy): AdminRoute[] {
  return [
    {
      pattern: /^\/metrics$/,
      methods: {
        GET: async () => {
          const snap = await collect(proxy);
          return { status: 200, body: snap.text, contentType: snap.contentType };
        },
      },
    },
    {
      pattern: /^\/stats$/,
      methods: {
        GET: async () => {
          const snap = await collect(proxy);
          return { status: 200, body: { ...statsOf(snap.json), processes: snap.processes } };
        },
      },
    },
  ];
}
