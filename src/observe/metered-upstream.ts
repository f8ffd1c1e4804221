// The upstream client with a meter on it: every origin request (the client's, and background
// revalidations that no request's finish sees) counts its status class, the time to the
// response head and the bytes read. It adds listeners only; the bytes flow as before.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { Upstream, type OriginRequest, type UpstreamOptions } from '../http/upstream.js';
import type { ProxyMetrics } from './metrics.js';
import { noteUpstreamTime } from './upstream-timing.js';

// A keep-alive socket carries one response after another: each response is charged the bytes
// read since the one before it ended (HTTP/1.1 without pipelining, so they never interleave).
const countedUpTo = new WeakMap<Socket, number>();

function chargeBytes(socket: Socket | null, metrics: ProxyMetrics): void {
  if (!socket) return;
  const read = socket.bytesRead;
  metrics.upstreamReceived(read - (countedUpTo.get(socket) ?? 0));
  countedUpTo.set(socket, read);
}

export class MeteredUpstream extends Upstream {
  constructor(
    options: UpstreamOptions,
    private readonly metrics: ProxyMetrics,
  ) {
    super(options);
  }

  override request(originReq: OriginRequest, body?: Readable): Promise<IncomingMessage> {
    // A monotonic clock: a latency, not a freshness decision, so not the injected now().
    const startedAt = performance.now();
    return super.request(originReq, body).then(
      (originRes) => {
        const ms = performance.now() - startedAt;
        this.metrics.upstreamAnswered(ms / 1000, originRes.statusCode ?? 0);
        noteUpstreamTime(originRes, ms);
        const socket = originRes.socket;
        let charged = false;
        const charge = () => {
          if (charged) return;
          charged = true;
          chargeBytes(socket, this.metrics);
        };
        originRes.once('end', charge);
        originRes.once('close', charge);
        return originRes;
      },
      (error: unknown) => {
        this.metrics.upstreamFailed();
        throw error;
      },
    );
  }
}
