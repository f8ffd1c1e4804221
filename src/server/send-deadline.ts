// The send deadline (--send-timeout; nginx's send_timeout): a client connection with bytes
// waiting to be sent that accepts none of them for that long is cut. One watch per socket, the
// same for every answer written on it (relay, store, hit, synth, early answers) and for tunnels,
// plain or intercepted. Destroying the socket is the whole remedy: the pipeline sees its client
// close and releases what it held (the origin exchange, the body copy, the fill lock).
import type { Socket } from 'node:net';

/** What a cut left to say: whether a log line already named it. */
interface Cut {
  reported: boolean;
}

const cuts = new WeakMap<object, Cut>();

/**
 * For the pipeline's last word on a request: true once, when `socket` was cut by the send
 * deadline and no log line has said so yet (the request's own line then carries the code).
 */
export function takeSendTimeoutCut(socket: object | null | undefined): boolean {
  const cut = socket ? cuts.get(socket) : undefined;
  if (!cut || cut.reported) return false;
  cut.reported = true;
  return true;
}

/** Was `socket` cut by the send deadline? (A transfer ended by it reads `client_send_timeout`.) */
export function wasCutBySendDeadline(socket: object | null | undefined): boolean {
  return !!socket && cuts.has(socket);
}

interface Progress {
  /** Bytes handed to the kernel when last looked at. */
  flushed: number;
  /** When they last moved, or nothing was waiting (performance.now()). */
  since: number;
}

export class SendDeadline {
  private readonly sockets = new Map<Socket, Progress>();
  private readonly timer: NodeJS.Timeout | undefined;

  /**
   * `onCut` decides whether to log the cut (true: it did); otherwise the request still running
   * on the socket says so in its own line (takeSendTimeoutCut).
   */
  constructor(
    readonly timeoutMs: number,
    private readonly onCut: (socket: Socket, pendingBytes: number) => boolean,
  ) {
    if (timeoutMs <= 0) return;
    // A cut comes between timeoutMs and timeoutMs + one sweep after the last progress.
    this.timer = setInterval(() => this.sweep(), Math.min(1000, Math.max(20, Math.floor(timeoutMs / 4))));
    this.timer.unref();
  }

  watch(socket: Socket): void {
    if (!this.timer || this.sockets.has(socket)) return;
    this.sockets.set(socket, { flushed: 0, since: performance.now() });
    socket.once('close', () => this.sockets.delete(socket));
  }

  stop(): void {
    clearInterval(this.timer);
    this.sockets.clear();
  }

  private sweep(): void {
    const now = performance.now();
    for (const [socket, progress] of this.sockets) {
      const pending = socket.writableLength;
      // `bytesWritten` counts what was queued on the socket, `writableLength` what still waits:
      // the difference is what the kernel has taken. It moves once per write that completes, so
      // large answers are written in pieces (pipeline/body.ts) for a reader's progress to show.
      const flushed = (socket.bytesWritten ?? 0) - pending;
      if (pending === 0 || flushed !== progress.flushed) {
        progress.flushed = flushed;
        progress.since = now;
        continue;
      }
      if (now - progress.since < this.timeoutMs || socket.destroyed) continue;
      this.sockets.delete(socket);
      const cut: Cut = { reported: false };
      cuts.set(socket, cut);
      cutNow(socket);
      if (this.onCut(socket, pending)) cut.reported = true;
    }
  }
}

/**
 * A reset where the socket is TCP: a plain close would leave the unsent bytes in the kernel, which
 * would go on offering them to a client that does not read (an orphan socket, for minutes). A TLS
 * socket (intercepted) can only be closed.
 */
function cutNow(socket: Socket): void {
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}
