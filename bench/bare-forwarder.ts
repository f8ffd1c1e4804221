// A reference for the instruction counts (bench/instructions.ts) and the floor of `npm run bench`
// (bench/run.ts): the least a Node forward proxy does per request — node:http server, one undici
// Pool per origin, hop-by-hop fields dropped, the body relayed — and nothing else (no cache, no
// policy, no metrics, no limits). Not a proxy for any other use. Prints `listening <port>` once
// ready. With `--parent http://user:password@host:port` every request goes to that parent in
// absolute form with its Proxy-Authorization, on one Pool: the floor of a request through a parent.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool, type Dispatcher } from 'undici';
import { HOP_BY_HOP } from '../src/http/hop-by-hop.js';

const HOP_BY_HOP_SET: ReadonlySet<string> = new Set(HOP_BY_HOP);
const pools = new Map<string, Pool>();
const parentFlag = process.argv.indexOf('--parent');
const parent = parentFlag > 0 ? new URL(process.argv[parentFlag + 1] ?? '') : undefined;
const parentAuthorization = parent && `Basic ${Buffer.from(`${decodeURIComponent(parent.username)}:${decodeURIComponent(parent.password)}`).toString('base64')}`;

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
  const headers = endToEnd(req.rawHeaders);
  const method = req.method as Dispatcher.HttpMethod;
  if (parent) poolFor(parent.origin).dispatch({ method, path: target.href, headers: [...headers, 'proxy-authorization', parentAuthorization!] }, handler);
  else poolFor(target.origin).dispatch({ method, path: `${target.pathname}${target.search}`, headers }, handler);
});
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`));
