// A looked-up entry's body stays as it is while this request uses it: held from the lookup until
// its client has the bytes. The memory store's bodies are views into pages it recycles, and a
// socket still reads a body it was handed after write() returns. A client that stops reading is
// cut by --send-timeout, and its close lets the hold go.
import type { Entry } from '../store/types.js';
import type { Tx } from './transaction.js';

/** Hold `entry` (just looked up) for the rest of the request, letting go of any earlier one. */
export function holdEntry(tx: Tx, entry: Entry): void {
  tx.releaseEntry?.();
  tx.releaseEntry = tx.ctx.backend.entries.hold?.(entry);
}

/** Also let go of `release` when the request is over (a body received into the store's room). */
export function keepUntilSent(tx: Tx, release: () => void): void {
  const earlier = tx.releaseEntry;
  tx.releaseEntry = earlier
    ? () => {
        earlier();
        release();
      }
    : release;
}

/** The request is over: let go of its entry once the client's socket no longer needs the bytes. */
export function releaseEntryOnceSent(tx: Tx): void {
  const release = tx.releaseEntry;
  if (!release) return;
  tx.releaseEntry = undefined;
  const { clientRes } = tx;
  // writableLength counts what the response and its socket still buffer: at 0, the kernel has
  // every byte; a destroyed socket reads nothing more.
  if (clientRes.writableLength === 0 || clientRes.destroyed) return release();
  clientRes.once('close', release);
}
