// The memory change history's bounds: every event's URL, client id and validators are cut to a
// fixed length (flagged `truncated`, the JSON still well-formed), and the fleet ring, the per-URL
// rings and the check summaries are capped by bytes as well as by count. `after` reads from any
// cursor (a binary search), and `watch` hears of each append.
import { describe, expect, it } from 'vitest';
import { boundedEvent, MAX_EVENT_CLIENT_CHARS, MAX_EVENT_URL_CHARS, MAX_EVENT_VALIDATOR_CHARS } from '../../src/store/change-bounds.js';
import { CHECKED_BYTES, FLEET_BYTES, FLEET_CHANGES, HISTORY_BYTES, MemoryChangeLog } from '../../src/store/memory/change-log.js';
import type { ChangeEvent } from '../../src/store/types.js';

const side = { etag: '"a"', lastModified: null, digest: 'sha-256=:AA==:' };
const event = (url: string, client: string | null = 'c', time = 1_000_000): Omit<ChangeEvent, 'id'> => ({ time, url, old: side, new: { ...side, etag: '"b"' }, size: 1, client });

describe('change events are cut to their bounds', () => {
  it('cuts an 8 KB URL, a 7 KB client id and a long ETag, ends each with "…", flags the event, and keeps its JSON well-formed', () => {
    const url = `http://example.com/${'u'.repeat(8 * 1024)}`;
    const client = `${'😀'.repeat(3500)}`; // 7,000 UTF-16 units of surrogate pairs
    const cut = boundedEvent({ ...event(url, client), new: { ...side, etag: `"${'e'.repeat(5000)}"` } });
    expect(cut.truncated).toBe(true);
    expect(cut.url).toHaveLength(MAX_EVENT_URL_CHARS);
    expect(cut.url.endsWith('…')).toBe(true);
    expect(cut.url.startsWith('http://example.com/uuu')).toBe(true);
    expect(cut.client!.length).toBeLessThanOrEqual(MAX_EVENT_CLIENT_CHARS);
    expect(cut.client!.endsWith('😀…')).toBe(true); // no pair split in two
    expect(cut.new.etag!.length).toBe(MAX_EVENT_VALIDATOR_CHARS);
    expect(cut.old).toEqual(side);
    expect(JSON.parse(JSON.stringify(cut))).toEqual(cut);
    expect(Buffer.from(JSON.stringify(cut)).toString('utf8')).not.toContain('\ufffd');
  });

  it('leaves an ordinary event as it is, unflagged', () => {
    const given = event('http://example.com/feed');
    expect(boundedEvent(given)).toBe(given);
    expect('truncated' in boundedEvent(given)).toBe(false);
  });
});

describe('MemoryChangeLog byte caps', () => {
  it('15,000 changes with 8 KB URLs and 7 KB client ids stay within the byte caps, each event cut', async () => {
    const log = new MemoryChangeLog();
    for (let i = 0; i < 15_000; i++) await log.append(event(`http://example.com/${i}/${'u'.repeat(8 * 1024)}`, `${i}-${'c'.repeat(7 * 1024)}`, 1_000_000 + i), `key-${i}`);
    const usage = log.usage();
    expect(usage.fleet.bytes).toBeLessThanOrEqual(FLEET_BYTES);
    expect(usage.perUrl.bytes).toBeLessThanOrEqual(HISTORY_BYTES);
    expect(usage.checked.bytes).toBeLessThanOrEqual(CHECKED_BYTES);
    // The byte cap, not the count, bounds the fleet ring here; it keeps the newest, in order.
    expect(usage.fleet.events).toBeLessThan(FLEET_CHANGES);
    const kept = await log.after('0', FLEET_CHANGES);
    expect(kept).toHaveLength(usage.fleet.events);
    expect(kept.at(-1)!.url).toMatch(/^http:\/\/example\.com\/14999\//);
    for (const change of kept) {
      expect(change.url.length).toBeLessThanOrEqual(MAX_EVENT_URL_CHARS);
      expect(change.client!.length).toBeLessThanOrEqual(MAX_EVENT_CLIENT_CHARS);
      expect(change.truncated).toBe(true);
    }
    expect((await log.history('key-14999'))[0]!.url.length).toBe(MAX_EVENT_URL_CHARS);
  });

  it('forgets the least recently changed URLs once the per-URL rings together pass their byte cap', async () => {
    const log = new MemoryChangeLog();
    const url = (u: number) => `http://example.com/${u}/${'u'.repeat(MAX_EVENT_URL_CHARS)}`;
    // 800 URLs × 20 changes of 2 KB URLs: about 40 MB of history counted by count alone.
    for (let u = 0; u < 800; u++) {
      for (let round = 0; round < 20; round++) await log.append(event(url(u)), `key-${u}`);
    }
    const usage = log.usage();
    expect(usage.perUrl.bytes).toBeLessThanOrEqual(HISTORY_BYTES);
    expect(usage.perUrl.urls).toBeLessThan(800);
    expect(await log.history('key-0')).toEqual([]);
    expect(await log.history('key-799')).toHaveLength(20);
  });
});

describe('MemoryChangeLog cursor reads', () => {
  it('reads after any id: "0", an id, a time cursor, the newest; a clock stepped back keeps ids in order', async () => {
    const log = new MemoryChangeLog();
    const ids: string[] = [];
    for (let i = 0; i < 3000; i++) ids.push((await log.append(event(`http://example.com/${i}`, null, 1_000_000 + Math.floor(i / 3)), `key-${i}`)).id);
    ids.push((await log.append(event('http://example.com/back', null, 5), 'back')).id); // the clock went back
    expect((await log.after('0', 2)).map((e) => e.id)).toEqual(ids.slice(0, 2));
    expect((await log.after(ids[1234]!, 3)).map((e) => e.id)).toEqual(ids.slice(1235, 1238));
    expect((await log.after(await log.cursorAt(1_000_500), 1))[0]!.id).toBe(ids[1500]);
    expect((await log.after(ids.at(-2)!, 10)).map((e) => e.id)).toEqual([ids.at(-1)]);
    expect(await log.after(ids.at(-1)!, 10)).toEqual([]);
    expect(await log.latest()).toBe(ids.at(-1));
  });

  it('tells its watchers of each append, with the id', async () => {
    const log = new MemoryChangeLog();
    const heard: Array<string | undefined> = [];
    const stop = log.watch((id) => heard.push(id));
    const first = await log.append(event('http://example.com/a'), 'a');
    stop();
    await log.append(event('http://example.com/b'), 'b');
    expect(heard).toEqual([first.id]);
  });
});
