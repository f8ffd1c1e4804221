// One message over a cluster IPC channel (primary to worker, or worker to primary).
// The other end can be on its way out (a worker that failed to listen, a primary that was
// killed) while its channel still reads as connected; the write then fails with EPIPE a tick
// later. Without a callback Node raises that as an 'error' event that nothing listens to, and
// the process dies with a stack trace. The other end's 'exit' or 'disconnect' already tells
// the rest of the code it is gone, so the failed send is only reported to `sent`.
import type { Serializable } from 'node:child_process';

export interface IpcEnd {
  send(message: Serializable, callback: (error: Error | null) => void): boolean;
}

export function sendOver(end: IpcEnd, message: Serializable, sent?: (error: Error | null) => void): void {
  end.send(message, (error) => sent?.(error));
}

/** From a worker to the primary; nothing when this process has no IPC channel (not a cluster worker). */
export function sendToPrimary(message: Serializable, sent?: (error: Error | null) => void): void {
  if (process.send) sendOver(process as IpcEnd, message, sent);
}
