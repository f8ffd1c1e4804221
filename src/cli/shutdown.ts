// What starts a shutdown: SIGTERM / SIGINT in any process, and the primary's message to its
// workers. The first request drains (--shutdown-timeout); a second signal cuts what is left.
// How a listener drains is server/drain.ts's job; the log lines are serve.ts's.
import cluster from 'node:cluster';
import { sendOver } from '../ipc-send.js';

export type StopRequest = { kind: 'drain' | 'force'; signal: string };

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/**
 * The same signal can arrive twice at once: Ctrl-C reaches the whole process group, and
 * `npm start` forwards it to the proxy again. Within this window it is one request.
 */
const REPEAT_WINDOW_MS = 1000;

/** Seconds a worker gets past its own deadline before the primary kills it. */
const KILL_GRACE_MS = 3000;

interface WorkerMessage {
  etagProxy: 'drain' | 'force';
}

const isWorkerMessage = (message: unknown): message is WorkerMessage =>
  typeof message === 'object' && message !== null && ((message as WorkerMessage).etagProxy === 'drain' || (message as WorkerMessage).etagProxy === 'force');

/** Call `handler` with 'drain' for the first signal (or primary's message), 'force' for a later one. */
export function onStopRequest(handler: (request: StopRequest) => void): void {
  let firstAt: number | undefined;
  for (const signal of SIGNALS) {
    process.on(signal, () => {
      const now = Date.now();
      if (firstAt === undefined) {
        firstAt = now;
        handler({ kind: 'drain', signal });
      } else if (now - firstAt >= REPEAT_WINDOW_MS) {
        handler({ kind: 'force', signal });
      }
    });
  }
  if (cluster.isWorker) {
    process.on('message', (message: unknown) => {
      if (!isWorkerMessage(message)) return;
      firstAt ??= Date.now();
      handler({ kind: message.etagProxy, signal: 'primary' });
    });
  }
}

/**
 * In the primary: ask every worker to drain (or to cut at once), and resolve once all have
 * exited. A worker still running well past its deadline is killed.
 */
export function stopWorkers(kind: 'drain' | 'force', timeoutMs = 0): Promise<void> {
  const workers = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
  const exits = workers.map((worker) => {
    if (worker.isDead()) return Promise.resolve();
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    if (worker.isConnected()) sendOver(worker, { etagProxy: kind } satisfies WorkerMessage);
    const killer = setTimeout(() => worker.process.kill('SIGKILL'), (kind === 'drain' ? timeoutMs : 0) + KILL_GRACE_MS);
    killer.unref();
    return exited.finally(() => clearTimeout(killer));
  });
  return Promise.all(exits).then(() => undefined);
}
