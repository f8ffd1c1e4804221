// The change history in Redis, shared by the fleet: one stream per URL (`<ns>:ch:{<url key>}`,
// about PER_URL_CHANGES long) and one fleet stream (`<ns>:changes`, about FLEET_CHANGES long),
// both trimmed with MAXLEN ~ on every XADD. The fleet stream assigns the id; the URL's stream
// reuses it, so one id names the event everywhere (and is the SSE Last-Event-ID). Beside the
// URL's stream (same hash tag, same slot) a hash `<ns>:ck:{<url key>}` {last, unchanged} keeps
// what its unchanged revalidations found: a count and the last-checked time, no event.
// Each append PUBLISHes its id on `<ns>:changes-appended`: the nudge that wakes each process's
// one reader of the fleet stream (admin/change-feed.ts), which otherwise sends nothing at all.
import { boundedEvent } from '../change-bounds.js';
import { FLEET_CHANGES, PER_URL_CHANGES } from '../memory/change-log.js';
import type { ChangeEvent, ChangeLog, CheckSummary } from '../types.js';
import type { RedisConnection } from './connect.js';

/** A URL's stream and check hash live about as long as its entries would. */
const URL_HISTORY_TTL_MS = String(7 * 24 * 3600 * 1000);

export class RedisChangeLog implements ChangeLog {
  private readonly fleetKey: string;
  private readonly appendedChannel: string;
  private readonly watchers = new Set<(id?: string) => void>();
  private subscribed = false;

  constructor(
    private readonly redis: RedisConnection,
    private readonly namespace: string,
  ) {
    this.fleetKey = `${namespace}:changes`;
    this.appendedChannel = `${namespace}:changes-appended`;
  }

  private nudge(id: string | undefined): void {
    for (const watcher of this.watchers) watcher(id);
  }

  /**
   * Once per process whatever the number of watchers (trap 4). The connection keeps it across
   * reconnects; each time it is (re)made, the watchers read once more: nudges published while this
   * process was cut off from Redis were lost.
   */
  private subscribeOnce(): void {
    if (this.subscribed) return;
    this.subscribed = true;
    this.redis.subscribe(this.appendedChannel, (id) => this.nudge(id), () => this.nudge(undefined));
  }

  watch(listener: (id?: string) => void): () => void {
    this.watchers.add(listener);
    this.subscribeOnce();
    return () => void this.watchers.delete(listener);
  }

  private urlStream(urlKey: string): string {
    return `${this.namespace}:ch:{${urlKey}}`;
  }

  private checkHash(urlKey: string): string {
    return `${this.namespace}:ck:{${urlKey}}`;
  }

  async append(given: Omit<ChangeEvent, 'id'>, urlKey: string): Promise<ChangeEvent> {
    const event = boundedEvent(given);
    const json = JSON.stringify(event);
    const id = String(await this.redis.command(this.fleetKey, ['XADD', this.fleetKey, 'MAXLEN', '~', String(FLEET_CHANGES), '*', 'e', json]));
    const key = this.urlStream(urlKey);
    const checks = this.checkHash(urlKey);
    // The URL's stream lives about as long as its entries would; a week without a change drops it.
    await this.redis.pipeline(key, [
      ['PUBLISH', this.appendedChannel, id],
      ['XADD', key, 'MAXLEN', '~', String(PER_URL_CHANGES), id, 'e', json],
      ['PEXPIRE', key, URL_HISTORY_TTL_MS],
      ['HSET', checks, 'last', String(event.time)],
      ['PEXPIRE', checks, URL_HISTORY_TTL_MS],
    ]);
    return { id, ...event };
  }

  async checkedUnchanged(urlKey: string, time: number, count = 1): Promise<void> {
    const key = this.checkHash(urlKey);
    await this.redis.pipeline(key, [
      ['HSET', key, 'last', String(time)],
      ['HINCRBY', key, 'unchanged', String(count)],
      ['PEXPIRE', key, URL_HISTORY_TTL_MS],
    ]);
  }

  async checks(urlKey: string): Promise<CheckSummary> {
    const key = this.checkHash(urlKey);
    const reply = (await this.redis.command(key, ['HMGET', key, 'last', 'unchanged'])) as Array<Buffer | string | null> | null;
    const last = reply?.[0];
    const unchanged = reply?.[1];
    return { lastChecked: last == null ? null : Number(last.toString()), unchanged: unchanged == null ? 0 : Number(unchanged.toString()) };
  }

  async history(urlKey: string): Promise<ChangeEvent[]> {
    const key = this.urlStream(urlKey);
    return decode(await this.redis.command(key, ['XRANGE', key, '-', '+']));
  }

  async after(afterId: string, limit: number): Promise<ChangeEvent[]> {
    const start = afterId === '0' ? '-' : `(${afterId}`;
    return decode(await this.redis.command(this.fleetKey, ['XRANGE', this.fleetKey, start, '+', 'COUNT', String(limit)]));
  }

  async latest(): Promise<string> {
    const reply = await this.redis.command(this.fleetKey, ['XREVRANGE', this.fleetKey, '+', '-', 'COUNT', '1']);
    return decode(reply)[0]?.id ?? '0';
  }

  // Stream ids carry the Redis server's clock: ?since= is as exact as the two clocks agree.
  async cursorAt(time: number): Promise<string> {
    return `${Math.max(0, time - 1)}-18446744073709551615`;
  }
}

function decode(reply: unknown): ChangeEvent[] {
  if (!Array.isArray(reply)) return [];
  const events: ChangeEvent[] = [];
  for (const item of reply as Array<[Buffer | string, Array<Buffer | string>]>) {
    const [id, fields] = item;
    const json = fields?.[1];
    if (json === undefined) continue;
    try {
      events.push({ ...(JSON.parse(json.toString()) as Omit<ChangeEvent, 'id'>), id: id.toString() });
    } catch {
      // an unreadable event (another version's layout): skipped
    }
  }
  return events;
}
