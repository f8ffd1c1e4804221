// The bounds one client's bursts meet, as pure units: leaf signing turns (a burst per address,
// then a steady rate, a few at a time in turn between addresses) and the warning summary (the
// first line at once, the rest of an interval in one line naming a few).
import { describe, expect, it, vi } from 'vitest';
import { WarningSummary } from '../../src/observe/log-summary.js';
import { createLogger } from '../../src/observe/log.js';
import { SigningTurns } from '../../src/tls/signing-turns.js';
import { sleep } from '../helpers/respond.js';

describe('SigningTurns', () => {
  it('lets an address start its burst at once, then one signing per 1/rate second', async () => {
    // A fake clock: on a loaded machine a real one stretched "at once" past any fixed bound.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    try {
      const turns = new SigningTurns({ burst: 2, perSecond: 20, concurrent: 10 });
      const started: number[] = [];
      const t0 = performance.now();
      const all = Promise.all(
        Array.from({ length: 4 }, () =>
          turns.take('10.0.0.1').then((release) => {
            started.push(performance.now() - t0);
            release();
          }),
        ),
      );
      await vi.advanceTimersByTimeAsync(200);
      await all;
      expect(started[0]).toBe(0);
      expect(started[1]).toBe(0);
      // Two past the burst at 20 a second: about 50 ms and 100 ms.
      expect(started[2]).toBeGreaterThanOrEqual(40);
      expect(started[2]).toBeLessThan(90);
      expect(started[3]).toBeGreaterThanOrEqual(90);
    } finally {
      vi.useRealTimers();
    }
  });

  it('hands the next free place to the address that has waited least recently served (round robin), not to the longest queue', async () => {
    const turns = new SigningTurns({ burst: 100, perSecond: 100, concurrent: 1 });
    const order: string[] = [];
    const sign = (client: string, name: string) =>
      turns.take(client).then(async (release) => {
        order.push(name);
        await sleep(5);
        release();
      });

    await Promise.all([...Array.from({ length: 5 }, (_, i) => sign('greedy', `g${i}`)), sign('other', 'o')]);

    expect(order.indexOf('o')).toBe(1);
  });

  it('drops a name whose deadline passes while it waits', async () => {
    const turns = new SigningTurns({ burst: 1, perSecond: 1, concurrent: 1 });
    const first = await turns.take('a');
    const waiting = turns.take('a', AbortSignal.timeout(20));
    await expect(waiting).rejects.toBeDefined();
    first();
  });
});

describe('WarningSummary', () => {
  it('logs the first event at once and the rest of the interval in one line with their count and a few samples', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = createLogger('warn', (line) => void lines.push(JSON.parse(line) as Record<string, unknown>));
    const summary = new WarningSummary(logger, { message: 'many more', samplesField: 'hosts', intervalMs: 50 });

    for (let i = 0; i < 40; i++) summary.note(`first for h${i}`, { host: `h${i}` }, `h${i}`);
    expect(lines).toHaveLength(1);
    await sleep(120);

    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ msg: 'first for h0', host: 'h0' });
    expect(lines[1]).toMatchObject({ msg: 'many more', count: 39, intervalMs: 50, hosts: 'h1,h2,h3,h4,h5' });
    await sleep(80);
    summary.note('again', { host: 'x' }, 'x');
    expect(lines[2]).toMatchObject({ msg: 'again' });
  });
});
