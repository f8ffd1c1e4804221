// The upstream client with a meter on it: every origin request (the client's, and background
// revalidations that no request's finish sees) counts its status class, the time to the
// response head and the bytes read. It hooks the settling of each request; the bytes flow as before.
import { Upstream, type Settle, type UpstreamOptions } from '../http/upstream.js';
import type { ProxyMetrics } from './metrics.js';

export class MeteredUpstream extends Upstream {
  constructor(
    options: UpstreamOptions,
    private readonly metrics: ProxyMetrics,
  ) {
    super(options);
  }

  protected override settleWith(resolve: Settle['resolve'], reject: Settle['reject']): Settle {
    // A monotonic clock: a latency, not a freshness decision, so not the injected now().
    const startedAt = performance.now();
    const { metrics } = this;
    return {
      resolve(originRes) {
        const ms = performance.now() - startedAt;
        metrics.upstreamAnswered(ms / 1000, originRes.statusCode);
        originRes.headMs = ms;
        // Charged once the body has ended or failed: the head and whatever body arrived.
        originRes.onSettled(() => metrics.upstreamReceived(originRes.receivedBytes));
        resolve(originRes);
      },
      reject(error) {
        metrics.upstreamFailed();
        reject(error);
      },
    };
  }
}
