// The soak's churn bodies (bench/soak.ts, served by bench/origin-server.ts as /churn/<n>): a size
// between min and max and distinct bytes per n, computed the same way on both sides so the soak
// can check what the proxy delivered without keeping copies.

export const CHURN_MAX = 16 * 1024 * 1024;
/** Body sizes of the bench's /many and /stale routes (bench/origin-server.ts). */
export const KEYED_MIN = 4 * 1024;
export const KEYED_MAX = 64 * 1024;
const pattern = Buffer.alloc(CHURN_MAX + 256);
for (let i = 0; i < pattern.length; i++) pattern[i] = (i * 131 + (i >> 8)) & 0xff;

/** Size of /churn/<n> between min and max bytes, spread evenly by a multiplicative hash of n. */
export function churnSize(n: number, min: number, max: number): number {
  return min + ((Math.imul(n, 2654435761) >>> 0) % (max - min + 1));
}

/** The bytes of /churn/<n>: a window into a fixed pattern, shifted by n so bodies differ. */
export function churnBody(n: number, size: number): Buffer {
  return pattern.subarray(n % 256, (n % 256) + size);
}
