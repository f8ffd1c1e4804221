// A paced load for comparing two subjects at the same request rate (bench/parents.ts): requests
// leave at even intervals (`rate` per second, a few each millisecond tick), on at most
// `connections` kept-alive connections (undici Pool, in the bench process). A closed loop such as
// wrk's runs each subject as fast as it goes; the slower side then handles fewer events per
// wakeup of its event loop and pays more CPU per request for the same work, which is what a
// parent on this machine does to the proxy. At the same paced rate that effect is the same on
// both sides. autocannon's `overallRate` is no substitute: it sends each second's budget in a burst.
import { Pool } from 'undici';
import type { LoadResult, LoadTarget } from './load.js';

export interface PacedOptions {
  connections: number;
  seconds: number;
  /** Requests per second to send. */
  rate: number;
}

export async function runPacedLoad(target: LoadTarget, options: PacedOptions): Promise<LoadResult> {
  const pool = new Pool(target.connectTo, { connections: options.connections, pipelining: 1 });
  const latencies: number[] = [];
  let sent = 0;
  let non2xx = 0;
  let errors = 0;
  const inFlight = new Set<Promise<void>>();
  const one = (k: number): Promise<void> => {
    const started = performance.now();
    const path = target.spread ? `${target.path}?k=${k % target.spread}` : target.path;
    return pool
      .request({ method: 'GET', path, headers: { host: target.host } })
      .then(async ({ statusCode, body }) => {
        await body.dump({ limit: Infinity });
        if (statusCode < 200 || statusCode > 299) non2xx++;
        latencies.push(performance.now() - started);
      })
      .catch(() => void errors++);
  };
  const cpu = process.cpuUsage();
  const begin = performance.now();
  const end = begin + options.seconds * 1000;
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const now = performance.now();
      // Requests due by now, at most as many as connections can carry without queueing past them.
      const due = Math.floor(((Math.min(now, end) - begin) / 1000) * options.rate);
      while (sent < due && inFlight.size < options.connections * 4) {
        const request = one(sent++);
        inFlight.add(request);
        void request.finally(() => inFlight.delete(request));
      }
      if (now >= end) {
        clearInterval(tick);
        resolve();
      }
    }, 1);
  });
  await Promise.all(inFlight);
  const wallMs = performance.now() - begin;
  const used = process.cpuUsage(cpu);
  await pool.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return {
    requestsPerSecond: latencies.length / (wallMs / 1000),
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    total: latencies.length,
    non2xx,
    errors,
    timeouts: 0,
    generator: { cpuPercent: (100 * (used.user + used.system)) / 1000 / wallMs, sysPercent: (100 * used.system) / 1000 / wallMs },
  };
}
