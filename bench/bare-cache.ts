// The floor under the hit bars of `npm run bench` (bench/run.ts) and bench/instructions.ts: the
// least a Node caching proxy does per hit. A node:http server; a Map from the absolute URL to the
// stored response (its head as a flat array, its body, when it was stored); a miss is fetched
// with undici and kept while `max-age` allows; a hit answers the stored head plus Age, Via and
// Cache-Status in one writeHead and the body in one end(). No policy, no Vary, no validators,
// no metrics, no limits, no logging: not a cache for any other use. Prints `listening <port>`.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { HOP_BY_HOP } from '../src/http/hop-by-hop.js';

const HOP_BY_HOP_SET: ReadonlySet<string> = new Set([...HOP_BY_HOP, 'content-length']);

interface Stored {
  status: number;
  head: string[];
  body: Buffer;
  storedAt: number;
  maxAge: number;
}

const stored = new Map<string, Stored>();
// Generous: under valgrind (bench/instructions.ts) the first connection takes seconds to open.
const dispatcher = new Agent({ connect: { timeout: 60_000 } });

function headOf(headers: Record<string, string | string[] | undefined>): string[] {
  const head: string[] = [];
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP_SET.has(name)) continue;
    for (const one of Array.isArray(value) ? value : [value]) head.push(name, one);
  }
  return head;
}

function answer(res: http.ServerResponse, entry: Stored, status: string): void {
  const age = Math.floor((Date.now() - entry.storedAt) / 1000);
  res.writeHead(entry.status, [...entry.head, 'content-length', String(entry.body.length), 'age', String(age), 'via', '1.1 bare-cache', 'cache-status', `bare-cache; ${status}`]);
  res.end(entry.body);
}

const server = http.createServer((req, res) => {
  const url = req.url ?? '/';
  const entry = stored.get(url);
  if (entry && Date.now() - entry.storedAt < entry.maxAge * 1000) return answer(res, entry, 'hit');
  request(url, { dispatcher, headers: { 'user-agent': 'bare-cache' } }).then(
    async (upstream) => {
      const body = Buffer.from(await upstream.body.arrayBuffer());
      const cacheControl = String(upstream.headers['cache-control'] ?? '');
      const maxAge = Number(/max-age=(\d+)/.exec(cacheControl)?.[1] ?? 0);
      const fresh: Stored = { status: upstream.statusCode, head: headOf(upstream.headers), body, storedAt: Date.now(), maxAge };
      if (maxAge > 0 && upstream.statusCode === 200 && !/no-store|private/.test(cacheControl)) stored.set(url, fresh);
      answer(res, fresh, 'fwd=miss');
    },
    (error: Error) => res.writeHead(502, { 'content-type': 'text/plain' }).end(`bare-cache: ${error.message}\n`),
  );
});
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`));
