// The fan-out behind GET /changes/stream: one reader of the change history per process for all
// its subscribers. The store's ChangeLog.watch nudges it when an event is appended (memory: at
// once; Redis: one PUBLISH per append; --workers with the memory store: a message from the
// primary); it then reads `after` its cursor once and writes each event to every subscriber.
// While nothing changes nothing runs but one heartbeat timer. A subscriber resuming from a
// Last-Event-ID reads its backlog on its own first, page by page as its socket drains, then
// joins. Bounds (invariant 6): the number of subscribers per process (past it, 503), and the bytes
// waiting in each subscriber's socket (past them, a final `dropped` event and the stream closed).
// The routes (changes-routes.ts) parse the request; what an event is, is observe/changes.ts's.
import type { ServerResponse } from 'node:http';
import { purgeMatches, type PurgeTarget } from '../cache/purge-match.js';
import { ProxyError } from '../errors.js';
import type { Logger } from '../observe/log.js';
import { compareIds } from '../store/memory/change-log.js';
import type { ChangeEvent, ChangeLog } from '../store/types.js';

/** Events per read of the history. */
const PAGE = 500;
/** A comment line after this long without a write keeps proxies and load balancers from closing an idle stream. */
export const HEARTBEAT_MS = 15_000;
/**
 * Bytes that may wait in one subscriber's socket (beyond what the kernel holds) before it counts
 * as not reading: a client that reads keeps it near zero; a few hundred events of slack.
 */
export const MAX_SUBSCRIBER_BUFFER_BYTES = 256 * 1024;
/** A backlog page waits this long for the client to read the previous one. */
const BACKLOG_STALL_MS = 10_000;
/** After the final event, a client that still does not read is cut this much later. */
const DROP_GRACE_MS = 5_000;
/** While the store cannot be read, the one reader tries again this often (the cursor waits). */
const RETRY_MS = 1_000;

export interface ChangeFeedOptions {
  /** --max-change-subscribers: open streams in this process, including dropped ones not yet closed. */
  maxSubscribers: number;
  maxBufferBytes?: number;
  logger: Logger;
}

export interface ChangeFeedStats {
  subscribers: number;
  live: number;
  dropped: number;
  /** The most bytes seen waiting in one subscriber's socket after a write. */
  peakBufferedBytes: number;
}

class Subscriber {
  live = false;
  /** Dropped or gone: nothing more is written. */
  closed = false;
  needsDrain = false;
  lastWrite = Date.now();

  constructor(
    readonly res: ServerResponse,
    /** The last event id this subscriber has had (written, or skipped by its filter). */
    public cursor: string,
    private readonly filter: PurgeTarget | undefined,
    private readonly feed: ChangeFeed,
  ) {}

  deliver(event: ChangeEvent): void {
    if (this.closed || compareIds(event.id, this.cursor) <= 0) return;
    // The cursor moves only past what was written (or filtered out): a drop names the last id sent.
    if (this.filter && !purgeMatches(this.filter, event.url)) this.cursor = event.id;
    else if (this.write(`id: ${event.id}\nevent: change\ndata: ${JSON.stringify(event)}\n\n`)) this.cursor = event.id;
  }

  /** False when nothing was written: the subscriber is closed, or has just been dropped. */
  write(text: string): boolean {
    if (this.closed) return false;
    const waiting = this.res.writableLength;
    if (waiting > this.feed.maxBufferBytes) {
      this.drop(`not reading: ${waiting} bytes of events wait to be read (the limit is ${this.feed.maxBufferBytes})`);
      return false;
    }
    this.needsDrain = !this.res.write(text);
    this.lastWrite = Date.now();
    this.feed.noteBuffered(this.res.writableLength);
    return true;
  }

  /** Resolves once the socket drained, or the stream closed; drops the subscriber past `timeoutMs`. */
  drained(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.res.off('drain', done);
        this.res.off('close', done);
        this.needsDrain = false;
        resolve();
      };
      const timer = setTimeout(() => {
        done();
        this.drop(`not reading: the backlog did not drain in ${timeoutMs / 1000} s`);
      }, timeoutMs);
      this.res.once('drain', done);
      this.res.once('close', done);
    });
  }

  /** A final event saying why and where to resume, then the end of the stream. */
  drop(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.feed.detach(this, reason);
    const data = JSON.stringify({ reason, lastEventId: this.cursor });
    this.res.end(`id: ${this.cursor}\nevent: dropped\ndata: ${data}\n\n`);
    const cut = setTimeout(() => this.res.destroy(), DROP_GRACE_MS);
    this.res.once('close', () => clearTimeout(cut));
  }
}

export class ChangeFeed {
  readonly maxBufferBytes: number;
  /** Open streams (counted against the limit until their socket closes). */
  private readonly members = new Set<Subscriber>();
  /** Those that take each event the reader reads. */
  private readonly live = new Set<Subscriber>();
  /** Admitted by the route, not yet streaming. */
  private reserved = 0;
  /** The last id the reader has read; meaningful while someone is live or a read runs. */
  private cursor = '0';
  private reading = false;
  private owed = false;
  private stopWatching: (() => void) | undefined;
  private retry: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private dropped = 0;
  private peakBufferedBytes = 0;

  constructor(
    private readonly log: ChangeLog,
    private readonly options: ChangeFeedOptions,
  ) {
    this.maxBufferBytes = options.maxBufferBytes ?? MAX_SUBSCRIBER_BUFFER_BYTES;
  }

  /** 503 when the process has its limit of streams. */
  admit(): void {
    const open = this.members.size + this.reserved;
    if (open < this.options.maxSubscribers) return;
    throw new ProxyError(
      503,
      'too_many_subscribers',
      `change stream: ${open} subscribers already, the limit of this process (--max-change-subscribers ${this.options.maxSubscribers}); try again later`,
      { 'retry-after': '10' },
    );
  }

  /** Admit and hold a place; the `stream` callback it returns takes it (called at once by admin-server.ts). */
  reserve(start: string, filter: PurgeTarget | undefined): (clientRes: ServerResponse) => void {
    this.admit();
    this.reserved++;
    return (clientRes) => {
      this.reserved--;
      this.subscribe(clientRes, start, filter);
    };
  }

  stats(): ChangeFeedStats {
    return { subscribers: this.members.size + this.reserved, live: this.live.size, dropped: this.dropped, peakBufferedBytes: this.peakBufferedBytes };
  }

  noteBuffered(bytes: number): void {
    if (bytes > this.peakBufferedBytes) this.peakBufferedBytes = bytes;
  }

  detach(sub: Subscriber, reason: string): void {
    this.live.delete(sub);
    this.dropped++;
    this.options.logger.info('change stream subscriber dropped', { reason, lastEventId: sub.cursor });
  }

  private subscribe(clientRes: ServerResponse, start: string, filter: PurgeTarget | undefined): void {
    // The client may have gone while the route read the start.
    if (!clientRes.socket || clientRes.socket.destroyed) return;
    clientRes.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
    clientRes.write(`: etag-proxy change stream\nretry: 1000\n\n`);
    const sub = new Subscriber(clientRes, start, filter, this);
    this.members.add(sub);
    clientRes.on('error', () => {}); // a write racing the socket's end: 'close' follows
    clientRes.on('close', () => {
      sub.closed = true;
      this.members.delete(sub);
      this.live.delete(sub);
      if (!this.members.size) this.stopHeartbeat();
    });
    this.heartbeat ??= setInterval(() => this.beat(), HEARTBEAT_MS / 3).unref();
    void this.join(sub);
  }

  /** The subscriber's own backlog (paced by its socket) until it has caught up with the reader; then live. */
  private async join(sub: Subscriber): Promise<void> {
    for (;;) {
      if (sub.closed) return;
      const readerRuns = this.live.size > 0 || this.reading;
      if (readerRuns && compareIds(this.cursor, sub.cursor) <= 0) break;
      let page: ChangeEvent[];
      try {
        page = await this.log.after(sub.cursor, PAGE);
      } catch {
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
        continue;
      }
      for (const event of page) {
        sub.deliver(event);
        if (sub.needsDrain) await sub.drained(BACKLOG_STALL_MS);
        if (sub.closed) return;
      }
      if (page.length < PAGE && (!page.length || !(this.live.size > 0 || this.reading))) break;
    }
    // No await from the last check to here: the reader cannot move in between.
    const dormant = this.live.size === 0 && !this.reading;
    if (dormant) this.cursor = sub.cursor;
    sub.live = true;
    this.live.add(sub);
    this.stopWatching ??= this.log.watch((id) => this.nudged(id));
    // Anything appended since the last page nudged nobody while the reader slept.
    if (dormant) void this.read();
  }

  private nudged(id: string | undefined): void {
    if (!this.live.size) return;
    if (id !== undefined && compareIds(id, this.cursor) <= 0) return;
    void this.read();
  }

  /** The one read for every live subscriber; a nudge during a read makes it read again after. */
  private async read(): Promise<void> {
    if (this.reading) {
      this.owed = true;
      return;
    }
    this.reading = true;
    try {
      do {
        this.owed = false;
        for (;;) {
          if (!this.live.size) return;
          const events = await this.log.after(this.cursor, PAGE);
          for (const event of events) {
            this.cursor = event.id;
            for (const sub of this.live) sub.deliver(event);
          }
          if (events.length < PAGE) break;
        }
      } while (this.owed);
    } catch {
      // The store is down: read again soon; the cursor has not moved past anything unsent.
      this.retry ??= setTimeout(() => {
        this.retry = undefined;
        void this.read();
      }, RETRY_MS).unref();
    } finally {
      this.reading = false;
    }
  }

  private beat(): void {
    const now = Date.now();
    for (const sub of this.members) if (now - sub.lastWrite >= HEARTBEAT_MS) sub.write(': keep-alive\n\n');
  }

  private stopHeartbeat(): void {
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }
}

// One feed per change history (so per proxy and process), made on the first subscriber.
const feeds = new WeakMap<ChangeLog, ChangeFeed>();

export function changeFeedFor(log: ChangeLog, options: ChangeFeedOptions): ChangeFeed {
  let feed = feeds.get(log);
  if (!feed) feeds.set(log, (feed = new ChangeFeed(log, options)));
  return feed;
}
