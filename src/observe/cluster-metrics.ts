// With --workers: one view of the whole fleet. The worker whose admin listener got the request
// asks the primary; the primary collects every worker's registry as JSON over the cluster IPC
// channel and sums them with prom-client's AggregatorRegistry (gauges marked `max` take the
// largest). Without workers the proxy's own registry answers. Counting stays in metrics.ts.
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type PrometheusContentType, type Registry } from 'prom-client';
import type { ProxyMetrics } from './metrics.js';
import { sendOver, sendToPrimary } from '../ipc-send.js';

/** A worker that does not answer in this long is left out of the sum rather than hang /metrics. */
const COLLECT_TIMEOUT_MS = 1000;

export interface MetricsSnapshot {
  contentType: string;
  text: string;
  json: Array<{ name: string; values: Array<{ value: number; labels: Record<string, string | number | undefined>; metricName?: string }> }>;
  /** How many processes the numbers cover. */
  processes: number;
}

type Message =
  | { etagProxy: 'metrics-request'; id: number }
  | { etagProxy: 'metrics-collect'; id: number }
  | { etagProxy: 'metrics-part'; id: number; metrics: object[] }
  | { etagProxy: 'metrics-reply'; id: number; snapshot: MetricsSnapshot };

const isMessage = (value: unknown): value is Message =>
  typeof value === 'object' && value !== null && typeof (value as { etagProxy?: unknown }).etagProxy === 'string' && typeof (value as { id?: unknown }).id === 'number';

async function snapshotOf(registry: Registry, processes: number): Promise<MetricsSnapshot> {
  return { contentType: registry.contentType, text: await registry.metrics(), json: await registry.getMetricsAsJSON(), processes };
}

/** The numbers /metrics and /stats show: this process's, or (in a worker) the fleet's. */
export function snapshot(metrics: ProxyMetrics): Promise<MetricsSnapshot> {
  if (!cluster.isWorker || !process.send) return snapshotOf(metrics.registry, 1);
  return askPrimary();
}

let nextId = 0;
const waiting = new Map<number, (snapshot: MetricsSnapshot) => void>();
let listening = false;

function askPrimary(): Promise<MetricsSnapshot> {
  if (!listening) {
    listening = true;
    process.on('message', (message: unknown) => {
      if (isMessage(message) && message.etagProxy === 'metrics-reply') {
        waiting.get(message.id)?.(message.snapshot);
        waiting.delete(message.id);
      }
    });
  }
  const id = ++nextId;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      waiting.delete(id);
      reject(new Error('the primary process did not send the workers\' metrics in time'));
    }, COLLECT_TIMEOUT_MS * 2);
    waiting.set(id, (snap) => {
      clearTimeout(timer);
      resolve(snap);
    });
    sendToPrimary({ etagProxy: 'metrics-request', id });
  });
}

/** In a worker: answer the primary's collection requests with this proxy's registry. */
export function answerMetricsCollection(metrics: ProxyMetrics): void {
  process.on('message', (message: unknown) => {
    if (!isMessage(message) || message.etagProxy !== 'metrics-collect') return;
    void metrics.registry.getMetricsAsJSON().then((json) => sendToPrimary({ etagProxy: 'metrics-part', id: message.id, metrics: json }));
  });
}

/** In the primary: collect from every worker for whichever worker asks. */
export function serveClusterMetrics(): void {
  let nextCollection = 0;
  const collections = new Map<number, { parts: object[][]; expected: number; done: () => void }>();
  cluster.on('message', (worker: Worker, message: unknown) => {
    if (!isMessage(message)) return;
    if (message.etagProxy === 'metrics-part') {
      const collection = collections.get(message.id);
      if (!collection) return;
      collection.parts.push(message.metrics);
      if (collection.parts.length === collection.expected) collection.done();
      return;
    }
    if (message.etagProxy !== 'metrics-request') return;
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && w.isConnected());
    const id = ++nextCollection;
    const parts: object[][] = [];
    const reply = () => {
      collections.delete(id);
      clearTimeout(timer);
      const registry = AggregatorRegistry.aggregate<PrometheusContentType>(parts);
      void snapshotOf(registry, parts.length).then((snap) => {
        if (worker.isConnected()) sendOver(worker, { etagProxy: 'metrics-reply', id: message.id, snapshot: snap });
      });
    };
    const timer = setTimeout(reply, COLLECT_TIMEOUT_MS);
    collections.set(id, { parts, expected: workers.length, done: reply });
    for (const w of workers) sendOver(w, { etagProxy: 'metrics-collect', id });
  });
}
