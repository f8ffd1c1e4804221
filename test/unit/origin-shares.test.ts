// Each client's share of an origin's connections (http/origin-shares.ts, issue 18 item 1): up to
// the share at once, the rest wait in order for one of the client's own to end, and a wait has a
// deadline (503). Other clients and other origins are not affected.
import { describe, expect, it } from 'vitest';
import { OriginShares, type Release } from '../../src/http/origin-shares.js';

const ORIGIN = 'http://origin.test';

describe('OriginShares', () => {
  it('grants a client its share at once, then makes it wait for one of its own to end, in order', async () => {
    const shares = new OriginShares(2, 5000);
    const first = shares.acquire(ORIGIN, 'a') as Release;
    const second = shares.acquire(ORIGIN, 'a') as Release;
    expect(typeof first).toBe('function');
    expect(typeof second).toBe('function');
    const third = shares.acquire(ORIGIN, 'a');
    const fourth = shares.acquire(ORIGIN, 'a');
    expect(third).toBeInstanceOf(Promise);
    // Another client, or another origin, is not held up.
    expect(typeof shares.acquire(ORIGIN, 'b')).toBe('function');
    expect(typeof shares.acquire('http://other.test', 'a')).toBe('function');
    const order: string[] = [];
    void (third as Promise<Release>).then(() => order.push('third'));
    void (fourth as Promise<Release>).then(() => order.push('fourth'));
    first();
    first(); // a second release does nothing
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(order).toEqual(['third']);
    expect(shares.openFor(ORIGIN, 'a')).toBe(2);
    second();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(order).toEqual(['third', 'fourth']);
  });

  it('answers 503 to a request that waited past the deadline, and forgets a client with nothing open', async () => {
    const shares = new OriginShares(1, 50);
    const held = shares.acquire(ORIGIN, 'a') as Release;
    await expect(shares.acquire(ORIGIN, 'a')).rejects.toMatchObject({ status: 503, code: 'client_origin_limit' });
    held();
    expect(shares.openFor(ORIGIN, 'a')).toBe(0);
    expect(typeof shares.acquire(ORIGIN, 'a')).toBe('function');
  });
});
