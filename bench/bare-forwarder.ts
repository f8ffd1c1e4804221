// A reference for the instruction counts (bench/instructions.ts) and the floor of `npm run bench`
// (bench/run.ts): the least a Node forward proxy does per request — node:http server, one undici
// Pool per origin, hop-by-hop fields dropped, the body relayed — and nothing else (no cache, no
// policy, no metrics, no limits). Not a proxy for any other use. Prints `listening <port>` once
// ready.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool, type Dispatcher } from 'undici';
import { HOP_BY_HOP } from '../src/http/hop-by-hop.js';

const HOP_BY_HOP_SET: ReadonlySet<string> = new Set(HOP_BY_HOP);
const pools = new Map<string, Pool>();

function poolFor(origin: string): Pool {
  let pool = pools.get(origin);
  if (!pool) pools.set(origin, (pool = new Pool(origin, { pipelining: 1 })));
  return pool;
}

function endToEnd(raw: readonly (Buffer | string)[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toString();
    if (!HOP_BY_HOP_SET.has(name.toLowerCase())) out.push(name, raw[i + 1]!.toString());
  }
  return out;
}

const server = http.createServer((req, res) => {
  const target = new URL(req.url ?? '/');
  const handler: Dispatcher.DispatchHandler = {
    onConnect() {},
    onError() {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    },
    onHeaders(status, rawHeaders, resume) {
      res.writeHead(status, endToEnd(rawHeaders as unknown as Buffer[]));
      res.on('drain', resume);
      return true;
    },
    onData(chunk) {
      return res.write(chunk);
    },
    onComplete() {
      res.end();
    },
  };
  poolFor(target.origin).dispatch({ method: req.method as Dispatcher.HttpMethod, path: `${target.pathname}${target.search}`, headers: endToEnd(req.rawHeaders) }, handler);
});
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`));
