// Who holds the listener's connections: the --max-connections total, each client address's share
// of it (--max-connections-per-client), and which connections are idle (no request in flight, no
// tunnel opening or relaying), oldest idle first. A new connection past a limit takes the place
// of the oldest idle one rather than being refused (nginx reuses idle keep-alive connections the
// same way when worker_connections run out); only when none is idle is it refused. Bookkeeping
// only: closing the connection it names, and answering the refusal, are connection-guard.ts's.

export interface Held<S> {
  readonly socket: S;
  readonly client: string;
  /** The decrypted (or re-served) socket of a tunnel whose contents are served here. */
  inner?: S;
  /** Requests in flight, tunnels opening or relaying: 0 = idle. */
  busy: number;
  open: boolean;
}

export type Admission<S> = { held: Held<S>; evicted?: Held<S> } | { refused: 'total' | 'client' };

interface Share<S> {
  count: number;
  idle: Set<Held<S>>;
}

/** The per-address share when --max-connections-per-client is `auto`: an eighth of the total, at least 64. */
export function perClientShare(maxConnections: number, configured: number | 'auto'): number {
  if (configured !== 'auto') return Math.min(configured, maxConnections);
  return Math.min(maxConnections, Math.max(64, Math.floor(maxConnections / 8)));
}

export class ConnectionTable<S> {
  private count = 0;
  /** Insertion order: the connection idle the longest comes first. */
  private readonly idle = new Set<Held<S>>();
  private readonly shares = new Map<string, Share<S>>();

  constructor(
    readonly maxTotal: number,
    readonly maxPerClient: number,
  ) {}

  get size(): number {
    return this.count;
  }

  heldBy(client: string): number {
    return this.shares.get(client)?.count ?? 0;
  }

  /** A new connection: its record (and the idle one closed to make room for it), or the limit it hit. */
  open(socket: S, client: string): Admission<S> {
    let share = this.shares.get(client);
    let evicted: Held<S> | undefined;
    if (share && share.count >= this.maxPerClient && this.maxPerClient < this.maxTotal) {
      // Past its share, a client's new connection can only replace one of its own.
      evicted = oldest(share.idle);
      if (!evicted) return { refused: 'client' };
    } else if (this.count >= this.maxTotal) {
      evicted = oldest(this.idle);
      if (!evicted) return { refused: 'total' };
    }
    if (evicted) this.close(evicted);
    if (!share) {
      share = { count: 0, idle: new Set() };
      this.shares.set(client, share);
    }
    const held: Held<S> = { socket, client, busy: 0, open: true };
    this.count++;
    share.count++;
    this.idle.add(held);
    share.idle.add(held);
    return evicted ? { held, evicted } : { held };
  }

  /** A request (or a tunnel) started on it. */
  busy(held: Held<S>): void {
    if (!held.open) return;
    if (held.busy++ > 0) return;
    this.idle.delete(held);
    this.shares.get(held.client)?.idle.delete(held);
  }

  /** A request began and was answered in full at once: idle still, and now the one idle the shortest. */
  touch(held: Held<S>): void {
    if (!held.open || held.busy > 0) return;
    this.idle.delete(held);
    this.idle.add(held);
    const idle = this.shares.get(held.client)?.idle;
    idle?.delete(held);
    idle?.add(held);
  }

  /** A request (or a tunnel's opening) ended; with none left it is idle from now on. */
  done(held: Held<S>): void {
    if (!held.open || held.busy === 0) return;
    if (--held.busy > 0) return;
    this.idle.add(held);
    this.shares.get(held.client)?.idle.add(held);
  }

  close(held: Held<S>): void {
    if (!held.open) return;
    held.open = false;
    this.count--;
    this.idle.delete(held);
    const share = this.shares.get(held.client);
    if (!share) return;
    share.idle.delete(held);
    if (--share.count === 0) this.shares.delete(held.client);
  }
}

function oldest<T>(set: Set<T>): T | undefined {
  for (const first of set) return first;
  return undefined;
}
