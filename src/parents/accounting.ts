// What each parent carried and what the cache saved each pool: requests, 304s, errors and bans
// (counted by upstream.ts as answers settle), bytes on the wire (every socket to a parent is
// tracked: its bytes read and written, handshakes, heads and bodies, as the parent counts them),
// and what was avoided (hits answered with no parent traffic, body bytes a 304 did not carry;
// counted from pipeline/finish.ts through the metrics). Read by observe/metrics.ts at scrape time.
import type { Socket } from 'node:net';

const tracked = new WeakSet<Socket>();

export class ParentTally {
  requests = 0;
  notModified = 0;
  errors = 0;
  bans = 0;
  /** Body bytes of stored entries that 304s through this parent did not carry (hits have no parent: they count per pool). */
  avoidedBytes = 0;
  private closedSent = 0;
  private closedReceived = 0;
  private readonly live = new Set<Socket>();

  /** Count this connection's bytes (once, however often it is handed over). */
  track(socket: Socket): void {
    if (tracked.has(socket)) return;
    tracked.add(socket);
    this.live.add(socket);
    socket.once('close', () => {
      this.live.delete(socket);
      this.closedSent += socket.bytesWritten;
      this.closedReceived += socket.bytesRead;
    });
  }

  /** Bytes written to and read from this parent so far, open connections included. */
  wire(): { sent: number; received: number } {
    let sent = this.closedSent;
    let received = this.closedReceived;
    for (const socket of this.live) {
      sent += socket.bytesWritten;
      received += socket.bytesRead;
    }
    return { sent, received };
  }
}

export class PoolSavings {
  /** Requests answered from the cache that this pool would have carried. */
  avoidedRequests = 0;
  /** Their body bytes, plus the body bytes of stored entries that a 304 through the pool did not carry. */
  avoidedBytes = 0;
}
