// The benchmark's origin, run as its own process (dist/bench/origin-server.js): a plain node:http
// server with canned responses for each scenario's route, so "straight to the origin" is the
// cheapest answer Node can give. Prints `listening <port>` on stdout once ready; GET /__stats
// returns how many responses it sent per route and status, so the bench can check hits are hits.
// /churn/<n> (the soak, bench/soak.ts) answers a cacheable body whose size and bytes follow from n.
// /many?k=<n> and /stale?k=<n> (the many-URLs and revalidate-storm scenarios) answer 4–64 KB bodies
// whose size and bytes follow from n: cacheable for an hour, or stale at once with a 304 to a
// matching If-None-Match.
// With `--tls-key FILE --tls-cert FILE` it is the HTTPS origin (node:https) of the HTTPS scenarios.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { CHURN_MAX, churnBody, churnSize, KEYED_MAX, KEYED_MIN } from './churn.js';

interface Route {
  body: Buffer;
  headers: Record<string, string>;
  /** Answer 304 to a matching If-None-Match. */
  conditional: boolean;
}

function canned(size: number, tag: string, cacheControl: string, conditional = false): Route {
  const body = Buffer.alloc(size, tag.charCodeAt(0));
  return {
    body,
    headers: {
      'content-type': 'application/octet-stream',
      'content-length': String(size),
      'cache-control': cacheControl,
      etag: `"${tag}-${size}"`,
    },
    conditional,
  };
}

const ROUTES = new Map<string, Route>([
  ['/1k', canned(1024, 'a', 'max-age=3600')],
  ['/100k', canned(100 * 1024, 'b', 'max-age=3600')],
  ['/revalidate', canned(1024, 'r', 'no-cache', true)],
  ['/nostore', canned(1024, 'n', 'no-store')],
]);

// /churn/<n>?min=<bytes>&max=<bytes> (the soak): a distinct cacheable body per n.
function churn(res: http.ServerResponse, url: URL): void {
  const n = Number(url.pathname.slice('/churn/'.length));
  const min = Number(url.searchParams.get('min') ?? 10_240);
  const max = Math.min(CHURN_MAX, Number(url.searchParams.get('max') ?? 102_400));
  const size = churnSize(n, min, max);
  count('/churn 200');
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size), 'cache-control': 'max-age=3600', etag: `"c${n}-${size}"` });
  res.end(churnBody(n, size));
}

// /many and /stale: body size and bytes from k (the churn pattern), an ETag of their own per k.
const KEYED_CACHE_CONTROL = new Map([
  ['/many', 'max-age=3600'],
  ['/stale', 'max-age=0'],
]);

function keyed(req: http.IncomingMessage, res: http.ServerResponse, path: string, cacheControl: string): void {
  const query = (req.url ?? '').slice(path.length + 1);
  const k = Number(/(?:^|&)k=(\d+)/.exec(query)?.[1] ?? 0);
  const size = churnSize(k, KEYED_MIN, KEYED_MAX);
  const etag = `"${path.slice(1, 2)}${k}-${size}"`;
  if (req.headers['if-none-match'] === etag) {
    count(`${path} 304`);
    res.writeHead(304, { etag, 'cache-control': cacheControl });
    res.end();
    return;
  }
  count(`${path} 200`);
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size), 'cache-control': cacheControl, etag });
  res.end(churnBody(k, size));
}

const sent = new Map<string, number>();
const count = (what: string): void => void sent.set(what, (sent.get(what) ?? 0) + 1);

const flag = (name: string): string | undefined => {
  const at = process.argv.indexOf(name);
  return at < 0 ? undefined : process.argv[at + 1];
};
const tlsKey = flag('--tls-key');
const tlsCert = flag('--tls-cert');

const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
  // The query only spreads requests over many cache keys (a bench option); the route is the path.
  const path = (req.url ?? '/').split('?')[0]!;
  if (path === '/__stats') {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(Object.fromEntries(sent)));
    return;
  }
  if (path.startsWith('/churn/')) return churn(res, new URL(req.url ?? '/', 'http://origin'));
  const keyedCacheControl = KEYED_CACHE_CONTROL.get(path);
  if (keyedCacheControl) return keyed(req, res, path, keyedCacheControl);
  const route = ROUTES.get(path);
  if (!route) {
    count(`${path} 404`);
    res.writeHead(404, { 'content-type': 'text/plain', 'content-length': '10' });
    res.end('not found\n');
    return;
  }
  if (route.conditional && req.headers['if-none-match'] === route.headers.etag) {
    count(`${path} 304`);
    res.writeHead(304, { etag: route.headers.etag ?? '', 'cache-control': route.headers['cache-control'] ?? '' });
    res.end();
    return;
  }
  count(`${path} 200`);
  res.writeHead(200, route.headers);
  res.end(route.body);
};
const server = tlsKey && tlsCert ? https.createServer({ key: readFileSync(tlsKey), cert: readFileSync(tlsCert) }, onRequest) : http.createServer(onRequest);
server.keepAliveTimeout = 30_000;

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
});

const stop = (): void => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
