// Each client's share of an origin's connections (--origin-connections-per-client): a client may
// have that many exchanges open to one origin at a time, and its further requests wait here, in
// order, for one of its own to end. So a client that stalls many downloads (or asks for many at
// once) holds at most its share of the origin's pool (--origin-connections), never all of it;
// the send deadline then frees what it holds. A wait has a deadline: past it, 503.
import { ProxyError } from '../errors.js';

/** Ends the exchange's hold on its share; a second call does nothing. */
export type Release = () => void;

interface Waiter {
  grant: (release: Release) => void;
  timer: NodeJS.Timeout;
}

interface Share {
  open: number;
  waiting: Waiter[];
}

export class OriginShares {
  /** origin → client → share: keyed by the strings as they come, no key built per request. */
  private readonly shares = new Map<string, Map<string, Share>>();

  constructor(
    readonly perClient: number,
    private readonly waitMs: number,
  ) {}

  /** A release at once when the client is under its share, else a promise of one (rejects with a 503 after the wait). */
  acquire(origin: string, client: string): Release | Promise<Release> {
    let clients = this.shares.get(origin);
    if (!clients) this.shares.set(origin, (clients = new Map()));
    let share = clients.get(client);
    if (!share) clients.set(client, (share = { open: 0, waiting: [] }));
    if (share.open < this.perClient) {
      share.open++;
      return this.releaser(origin, client, share);
    }
    const queue = share.waiting;
    return new Promise<Release>((resolve, reject) => {
      const waiter: Waiter = {
        grant: resolve,
        timer: setTimeout(() => {
          queue.splice(queue.indexOf(waiter), 1);
          reject(
            new ProxyError(503, 'client_origin_limit', `this client already has ${this.perClient} requests open to ${origin} (--origin-connections-per-client), and none ended within ${this.waitMs} ms`),
          );
        }, this.waitMs),
      };
      queue.push(waiter);
    });
  }

  /** Exchanges open now for `client` to `origin` (for tests). */
  openFor(origin: string, client: string): number {
    return this.shares.get(origin)?.get(client)?.open ?? 0;
  }

  private releaser(origin: string, client: string, share: Share): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = share.waiting.shift();
      if (next) {
        // The slot passes to the next request in line: `open` stays as it is.
        clearTimeout(next.timer);
        next.grant(this.releaser(origin, client, share));
        return;
      }
      if (--share.open > 0) return;
      const clients = this.shares.get(origin);
      clients?.delete(client);
      if (clients?.size === 0) this.shares.delete(origin);
    };
  }
}
