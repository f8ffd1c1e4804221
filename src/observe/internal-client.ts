// A request the proxy makes to itself, through its own pipeline (lookup, revalidate with the
// stored validators, refresh or store, the change log in finish), without a socket: one end of an
// in-process duplex pair is handed to the proxy's node:http server as a connection, as
// server/tunnel-contents.ts does with what arrives inside a CONNECT; the other carries the request.
// The connection is the proxy's own: --allow and --require-auth are for clients, and its client id
// is given rather than read from an address. Destinations are checked as for any request.
import http from 'node:http';
import { duplexPair } from 'node:stream';
import type { Proxy } from '../index.js';
import { inheritIdentity } from '../policy/identity.js';

export interface InternalAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The first bytes of a proxy-made error's text body (`403 destination_forbidden: …`); else empty. */
  errorText: string;
}

/** Read at most this much of an error body; a 200's body is drained unread. */
const ERROR_TEXT_BYTES = 1024;

export function requestThroughProxy(
  proxy: Proxy,
  target: URL,
  options: { clientId: string; headers?: Record<string, string>; timeoutMs: number },
): Promise<InternalAnswer> {
  const [clientSide, serverSide] = duplexPair();
  proxy.ctx.guard.admitInternal(serverSide);
  // As a tunnel's requests carry the CONNECT's identity: authenticated by being this process.
  inheritIdentity(serverSide, { id: options.clientId, source: 'proxy-authorization', verified: `internal:${options.clientId}` });
  proxy.server.emit('connection', serverSide);
  return new Promise<InternalAnswer>((resolve, reject) => {
    const clientReq = http.request({
      createConnection: () => clientSide,
      method: 'GET',
      path: target.href,
      headers: { host: target.host, connection: 'close', ...options.headers },
    });
    // Our own timer: a duplex pair has no socket timeouts for http's `timeout` option to use.
    const timer = setTimeout(() => clientReq.destroy(new Error(`no answer within ${options.timeoutMs} ms`)), options.timeoutMs);
    timer.unref();
    const done = () => {
      clearTimeout(timer);
      clientSide.destroy();
      serverSide.destroy();
    };
    clientReq.on('error', (error) => {
      done();
      reject(error);
    });
    clientReq.on('response', (res) => {
      const status = res.statusCode ?? 0;
      const chunks: Buffer[] = [];
      let kept = 0;
      res.on('data', (chunk: Buffer) => {
        if (status < 400 || kept >= ERROR_TEXT_BYTES) return;
        chunks.push(chunk);
        kept += chunk.length;
      });
      res.on('error', (error) => {
        done();
        reject(error);
      });
      res.on('close', () => {
        if (res.complete) return;
        done();
        reject(new Error('the answer was cut'));
      });
      res.on('end', () => {
        done();
        resolve({ status, headers: res.headers, errorText: Buffer.concat(chunks).subarray(0, ERROR_TEXT_BYTES).toString('utf8') });
      });
    });
    clientReq.end();
  });
}
