// Ports for servers the tests start under a port number they choose first (the CLI, redis-server).
// A port the kernel hands out for listen(0) is from the ephemeral range, and between closing the
// probe and the child's listen (a CLI start takes most of a second) the kernel can hand the same
// port to any test's outgoing connection: "address already in use". Ports below the ephemeral
// range (32768 on Linux) are never handed out that way, so only an explicit bind can take one,
// and each vitest worker draws from its own slice of them.
import { once } from 'node:events';
import { createServer } from 'node:net';

const FIRST = 20_000;
const SLICE = 1_500;
const SLICES = 8;
const slice = (Number(process.env.VITEST_POOL_ID ?? process.pid) % SLICES) * SLICE;
let next = Math.floor(Math.random() * SLICE);

async function bindable(port: number): Promise<boolean> {
  const server = createServer();
  server.once('error', () => undefined);
  server.listen(port, '127.0.0.1');
  const [event] = await Promise.race([once(server, 'listening').then(() => ['listening']), once(server, 'error').then(() => ['error'])]);
  if (event !== 'listening') return false;
  server.close();
  await once(server, 'close');
  return true;
}

/** A port on 127.0.0.1 that nothing listens on, outside the kernel's ephemeral range. */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < SLICE; tries++) {
    const port = FIRST + slice + (next++ % SLICE);
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port in ${FIRST + slice}-${FIRST + slice + SLICE - 1}`);
}
