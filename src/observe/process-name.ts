// Which process of the fleet this is, in the words GET /cache shows beside an entry it stored:
// `worker 2 (pid 4242 on web-3)` under --workers, else `pid 4242 on web-3`. Computed once: a
// cluster worker knows its id before any module runs.
import cluster from 'node:cluster';
import { hostname } from 'node:os';

export const PROCESS_NAME =
  cluster.isWorker && cluster.worker ? `worker ${cluster.worker.id} (pid ${process.pid} on ${hostname()})` : `pid ${process.pid} on ${hostname()}`;
