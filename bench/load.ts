// The load generator: autocannon's programmatic API in the bench process itself. Through a
// proxy it sends absolute-form requests (autocannon writes `path` verbatim into the request
// line) with the origin's Host, as `curl -x` does; straight to the origin, origin-form.
import autocannon from 'autocannon';

export interface LoadTarget {
  /** Where the connections go: the proxy or the origin, `http://127.0.0.1:<port>`. */
  connectTo: string;
  /** The request-target: `/1k`, or `http://127.0.0.1:<originPort>/1k` through a proxy. */
  path: string;
  /** Host header (the origin's authority). */
  host: string;
  /**
   * Spread requests over this many URLs (`?k=0` … `?k=N-1`, in turn), so concurrent requests
   * rarely share one and are not collapsed: each stale one then really goes upstream.
   */
  spread?: number;
}

export interface LoadOptions {
  connections: number;
  seconds: number;
}

export interface LoadResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  total: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

function spreadOver(path: string, count: number) {
  let next = 0;
  return (request: { path?: string }) => {
    request.path = `${path}?k=${next}`;
    next = (next + 1) % count;
    return request;
  };
}

export async function runLoad(target: LoadTarget, options: LoadOptions): Promise<LoadResult> {
  const result = await autocannon({
    url: target.connectTo,
    connections: options.connections,
    pipelining: 1,
    duration: options.seconds,
    requests: [
      {
        method: 'GET',
        path: target.path,
        headers: { host: target.host },
        ...(target.spread && { setupRequest: spreadOver(target.path, target.spread) }),
      },
    ],
  });
  return {
    // Completed requests over the measured time, rather than the mean of per-second samples
    // (the last, partial second would pull that down).
    requestsPerSecond: result.requests.total / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    total: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  };
}
