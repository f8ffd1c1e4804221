// Canned origin handlers for the wire tests: a fixed response, and one that answers a
// conditional request with 304 when the validators match (as a real origin does); plus small
// waiting helpers and a port nobody listens on.
import net from 'node:net';
import type { OriginHandler } from './origin.js';

export function respond(status: number, headers: Record<string, string | string[]> = {}, body: string | Buffer = ''): OriginHandler {
  return (_req, res) => {
    res.writeHead(status, headers);
    res.end(body);
  };
}

/** 200 with `body`, or 304 when If-None-Match names `etag` or If-Modified-Since ≥ Last-Modified. */
export function validating(headers: Record<string, string>, body: string): OriginHandler {
  return (req, res) => {
    const etag = headers['etag'];
    const lastModified = headers['last-modified'];
    const inm = req.headers['if-none-match'];
    const ims = req.headers['if-modified-since'];
    const matches =
      inm !== undefined
        ? etag !== undefined && inm.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag.replace(/^W\//, ''))
        : ims !== undefined && lastModified !== undefined && Date.parse(lastModified) <= Date.parse(ims);
    if (matches) {
      const { 'content-length': _cl, 'content-type': _ct, ...rest } = headers;
      res.writeHead(304, rest).end();
      return;
    }
    res.writeHead(200, headers).end(body);
  };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Poll until `check` holds (for background work), failing after `ms`. */
export async function eventually(check: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await sleep(5);
  }
}

/** A port on 127.0.0.1 that was free a moment ago: connecting to it is refused. */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
