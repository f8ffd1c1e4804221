// Fault rows where one client holds connections to lock the others out (issue 18): idle
// intercepted tunnels and half-sent ClientHellos, and one address's many idle keep-alive
// connections. Another client must keep being served throughout. Clients on other loopback
// addresses (127.0.0.2, 127.0.0.3) count as other client addresses. Small limits through flags
// keep each row to a few seconds.
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { initCa } from '../../src/tls/ca.js';
import { OK_BODY, startProxyChild, type FaultOrigin } from './env.js';
import type { FaultResult } from './faults.js';

/** A GET of /ok on a connection of its own from `localAddress`: 'ok', or what went wrong. */
function freshGet(port: number, origin: FaultOrigin, localAddress = '127.0.0.1'): Promise<string> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, localAddress, path: `http://${origin.host}/ok`, headers: { host: origin.host }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(res.statusCode === 200 && Buffer.concat(chunks).equals(OK_BODY) ? 'ok' : `${res.statusCode}`));
      res.on('error', (error) => resolve(error.message));
    });
    req.setTimeout(3000, () => req.destroy(new Error('timed out')));
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    req.end();
  });
}

/** A well-behaved client: a fresh connection every `everyMs` until `until`, tallying outcomes. */
async function bystander(port: number, origin: FaultOrigin, until: () => boolean, everyMs = 50): Promise<{ ok: number; wrong: string[] }> {
  const tally = { ok: 0, wrong: [] as string[] };
  while (!until()) {
    const outcome = await freshGet(port, origin);
    if (outcome === 'ok') tally.ok++;
    else tally.wrong.push(outcome);
    await delay(everyMs);
  }
  return tally;
}

function connectFrom(port: number, localAddress: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    socket.on('error', () => {});
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** The first 40 bytes of a TLS handshake record announcing a 512-byte ClientHello. */
const PARTIAL_HELLO = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]), Buffer.alloc(29, 7)]);

/**
 * 150 intercepted tunnels from one address (past --max-connections 100): half send nothing after
 * their 200, half part of a ClientHello. Each must be closed by --headers-timeout (1 s) or to make
 * room, while a client on another address is served on fresh connections throughout.
 */
export async function runIdleTunnels(origin: FaultOrigin): Promise<FaultResult> {
  const what = 'idle intercepted tunnels: 150 from one address, nothing or half a ClientHello after the 200 (--intercept, --headers-timeout 1s, --max-connections 100)';
  const caDir = mkdtempSync(join(tmpdir(), 'etag-proxy-faults-ca-'));
  await initCa(caDir);
  const proxy = await startProxyChild(['--intercept', '--ca-dir', caDir, '--headers-timeout', '1s', '--max-connections', '100', '--max-connections-per-client', '100']);
  try {
    const openedAt = Date.now();
    const closedAfter: number[] = [];
    let answered = 0;
    const tunnels = await Promise.all(
      Array.from({ length: 150 }, async (_, i) => {
        const socket = await connectFrom(proxy.port, '127.0.0.2');
        socket.once('close', () => closedAfter.push(Date.now() - openedAt));
        socket.once('data', (chunk: Buffer) => {
          if (!chunk.toString('latin1').startsWith('HTTP/1.1 200 ')) return;
          answered++;
          if (i % 2) socket.write(PARTIAL_HELLO);
        });
        socket.write(`CONNECT localhost:443 HTTP/1.1\r\nHost: localhost:443\r\n\r\n`);
        return socket;
      }),
    );
    const served = await bystander(proxy.port, origin, () => Date.now() - openedAt > 3000 || closedAfter.length === tunnels.length);
    await delay(200);
    const open = tunnels.filter((socket) => !socket.destroyed).length;
    for (const socket of tunnels) socket.destroy();
    const latest = Math.max(0, ...closedAfter);
    const ok = open === 0 && latest < 3000 && served.wrong.length === 0 && served.ok > 5;
    const detail = `${answered} tunnels answered 200, ${closedAfter.length} closed by the proxy (the last after ${latest} ms), ${open} still open; meanwhile another address got ${served.ok} right answers and ${served.wrong.length} wrong${served.wrong.length ? `: ${served.wrong.slice(0, 3).join(', ')}` : ''}`;
    return { id: 'idle-tunnel', what, ok, detail };
  } finally {
    await proxy.stop();
    rmSync(caDir, { recursive: true, force: true });
  }
}

/**
 * One address opens 200 keep-alive connections, each answered once then left idle (with
 * --max-connections 64 and its share --max-connections-per-client 16): it keeps at most its share,
 * its oldest idle ones closed to make room, and two other addresses are served throughout.
 */
export async function runConnectionShare(origin: FaultOrigin): Promise<FaultResult> {
  const what = 'one address holds 200 idle keep-alive connections (--max-connections 64, --max-connections-per-client 16) beside two other addresses';
  const proxy = await startProxyChild(['--max-connections', '64', '--max-connections-per-client', '16']);
  try {
    const held: net.Socket[] = [];
    let refused = 0;
    let flooding = true;
    const flood = (async () => {
      for (let i = 0; i < 200; i++) {
        const socket = await connectFrom(proxy.port, '127.0.0.2');
        held.push(socket);
        socket.write(`GET http://${origin.host}/ok HTTP/1.1\r\nHost: ${origin.host}\r\n\r\n`);
        socket.once('data', (chunk: Buffer) => {
          if (chunk.toString('latin1').startsWith('HTTP/1.1 503')) refused++;
        });
        await delay(5);
      }
      flooding = false;
    })();
    const others = await Promise.all(
      ['127.0.0.1', '127.0.0.3'].map(async (address) => {
        const tally = { ok: 0, wrong: [] as string[] };
        while (flooding || tally.ok + tally.wrong.length < 10) {
          const outcome = await freshGet(proxy.port, origin, address);
          if (outcome === 'ok') tally.ok++;
          else tally.wrong.push(`${address}: ${outcome}`);
          await delay(30);
        }
        return tally;
      }),
    );
    await flood;
    await delay(300);
    const open = held.filter((socket) => !socket.destroyed && !socket.readableEnded).length;
    for (const socket of held) socket.destroy();
    const wrong = others.flatMap((t) => t.wrong);
    const ok = open <= 16 && wrong.length === 0 && others.every((t) => t.ok >= 10);
    const detail = `the flooding address kept ${open} of its 200 connections open (${refused} got 503); the others got ${others.map((t) => t.ok).join(' and ')} right answers, ${wrong.length} wrong${wrong.length ? `: ${wrong.slice(0, 3).join(', ')}` : ''}`;
    return { id: 'connection-share', what, ok, detail };
  } finally {
    await proxy.stop();
  }
}
