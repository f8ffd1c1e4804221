// The collapser's fill lock with the memory store: handed over synchronously (a revalidation
// pays no promise for it), and its lease renewed by the collapser's one timer while the fill runs, which
// stops once no fill holds a lease.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Collapser, type FillTicket } from '../../src/cache/collapse.js';
import { MemoryCoordination } from '../../src/store/memory/coordination.js';

type Leader = Extract<FillTicket, { role: 'leader' }>;

function leader(ticket: FillTicket | Promise<FillTicket>): Leader {
  if (ticket instanceof Promise || ticket.role !== 'leader') throw new Error('expected a leader ticket, at once');
  return ticket;
}

describe('Collapser with the memory store', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('makes the first request for a key its leader at once, and the next one its follower, told the outcome', async () => {
    const collapser = new Collapser(new MemoryCoordination(), { leaseMs: 2000, maxWaitMs: 5000 });

    const first = leader(collapser.join('k'));
    const second = collapser.join('k');
    expect(second).toBeInstanceOf(Promise);
    await first.finish('stored');

    expect(await second).toEqual({ role: 'follower', outcome: 'stored' });
    expect(collapser.pending).toBe(0);
    expect(leader(collapser.join('k')).role).toBe('leader');
  });

  it('renews the lease of a fill slower than the lease until it finishes, then stops its timer', async () => {
    vi.useFakeTimers();
    const coordination = new MemoryCoordination();
    const collapser = new Collapser(coordination, { leaseMs: 600, maxWaitMs: 5000 });
    const fill = leader(collapser.join('slow'));
    const renew = vi.spyOn(fill.lock, 'renew');

    await vi.advanceTimersByTimeAsync(3000);
    expect(await coordination.isFilling('slow')).toBe(true);
    // At most a third of the lease (200 ms) apart while held.
    expect(renew.mock.calls.length).toBeGreaterThanOrEqual(6);

    await fill.finish('stored');
    expect(await coordination.isFilling('slow')).toBe(false);
    const renewals = renew.mock.calls.length;
    await vi.advanceTimersByTimeAsync(3000);
    expect(renew.mock.calls.length).toBe(renewals);
    expect(vi.getTimerCount()).toBe(0);
  });
});
