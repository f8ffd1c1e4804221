// The upstream client with a meter on it: every origin request (the client's, and background
// revalidations that no request's finish sees) counts its status class, the time to the
// response head and the bytes read. It hooks the settling of each request; the bytes flow as before.
import type { OriginResponse } from '../http/origin-response.js';
import type { Release } from '../http/origin-shares.js';
import { Settlement, Upstream, type Settle, type UpstreamOptions } from '../http/upstream.js';
import type { ProxyMetrics } from './metrics.js';

export class MeteredUpstream extends Upstream {
  constructor(
    options: UpstreamOptions,
    private readonly metrics: ProxyMetrics,
  ) {
    super(options);
  }

  protected override settleWith(resolve: Settle['resolve'], reject: Settle['reject'], release: Release | undefined): Settle {
    return new MeteredSettlement(this.metrics, resolve, reject, release);
  }
}

/** The meter on one request: its status class and time to the head, then the bytes read. */
class MeteredSettlement extends Settlement {
  // A monotonic clock: a latency, not a freshness decision, so not the injected now().
  private readonly startedAt = performance.now();

  constructor(
    private readonly metrics: ProxyMetrics,
    resolve: Settle['resolve'],
    reject: Settle['reject'],
    release: Release | undefined,
  ) {
    super(resolve, reject, release);
  }

  override resolve(originRes: OriginResponse): void {
    const ms = performance.now() - this.startedAt;
    const { metrics, release } = this;
    metrics.upstreamAnswered(ms / 1000, originRes.statusCode);
    originRes.headMs = ms;
    // Once the body has ended or failed: the head and whatever body arrived are charged, then
    // the client's share of the origin goes back. One hook for both.
    originRes.onSettled(() => {
      metrics.upstreamReceived(originRes.receivedBytes);
      release?.();
    });
    this.done(originRes);
  }

  override reject(error: unknown): void {
    this.metrics.upstreamFailed();
    super.reject(error);
  }
}
