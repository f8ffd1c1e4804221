// Writing bodies to the client: an origin body streamed through (with a copy kept for the store,
// bounded by --max-object-size and what the store can hold: past it the copy is dropped and the
// stream goes on), or a stored one. A client that closes, or that the send deadline cut
// (server/send-deadline.ts), ends the transfer and releases the origin exchange and the copy.
import { AbortTransfer } from '../errors.js';
import type { ClientResponse } from '../http/client-response.js';
import type { BodySink, OriginResponse } from '../http/origin-response.js';
import type { ReservedBody } from '../store/types.js';
import { midBodyError } from '../http/upstream.js';
import { wasCutBySendDeadline } from '../server/send-deadline.js';

export interface Teed {
  /** The whole body, or null when it outgrew the cap (nothing kept). */
  body: Buffer | null;
  /**
   * Finish the client's response, with the body's last byte when it was held back: call it once
   * the entry is committed (or failed to be), so a client that has the whole body can count on
   * every worker sharing the store having it too (read-your-writes across the fleet).
   */
  endClient(): void;
  /** Give back the store's room for the body (EntryStore.reserveBody) unless its put kept it: call once the entry is committed or not. */
  release(): void;
}

/**
 * Stream originRes to clientRes without ending it and keep a copy for the store. With a
 * Content-Length the client would have the whole response with the last body byte, so that
 * byte waits for endClient(); a chunked response is complete only with its last chunk, which
 * end() sends. A failed transfer drops the copy at once.
 */
export async function teeBody(
  originRes: OriginResponse,
  clientRes: ClientResponse,
  cap: number,
  host: string,
  /** The store's room for a body of known length (the memory store's pages): the copy is then made there. */
  reserve?: (length: number) => ReservedBody | undefined,
): Promise<Teed> {
  const declared = contentLength(originRes);
  const copy = new BodyCopy(declared, cap, reserve);
  let held: Buffer | undefined;
  const onChunk = (chunk: Buffer): Buffer => {
    copy.add(chunk);
    if (declared === undefined || !copy.keeping || copy.size !== declared) return chunk;
    held = Buffer.from(chunk.subarray(chunk.length - 1));
    return chunk.subarray(0, chunk.length - 1);
  };
  try {
    const streaming = streamTo(originRes, clientRes, host, { end: false, onChunk });
    if (streaming) await streaming;
  } catch (error) {
    copy.drop();
    throw error;
  }
  return { body: copy.result(), endClient: () => void clientRes.end(held), release: () => copy.release() };
}

/** The first piece of a copy whose length is not known, or known to be larger. */
const FIRST_PIECE = 64 * 1024;

/**
 * The store's copy of a body, ending in one buffer of exactly its length. Memory is taken as the
 * bytes arrive, doubling (so a client that stalls early pins little, and a body costs at most one
 * more copy of itself on the way): a copy of a known length ends in a buffer of that length, and
 * a small one is allocated once. Each chunk is copied in as it arrives, so the socket's read
 * buffers die young instead of being held (and promoted to the old generation) until the end of
 * the body. The buffer is never a slice of Buffer's shared 8 KiB pool: a small entry would
 * otherwise keep a whole pool slab alive, memory the cache's byte count does not see.
 */
export class BodyCopy {
  private buffer: Buffer | null = null;
  private filled = 0;
  private dropped = false;
  /** The most it may hold: the declared length, or the cap. */
  private readonly limit: number;
  private reserved: ReservedBody | undefined;
  /** result() handed out the body: a reserved one then waits for release(). */
  private resultTaken = false;

  constructor(
    private readonly declared: number | undefined,
    cap: number,
    reserve?: (length: number) => ReservedBody | undefined,
  ) {
    this.limit = declared ?? cap;
    if (declared !== undefined && declared > cap) this.dropped = true;
    // A known length the store has room for is copied straight there: one copy, no buffer of ours.
    else if (declared !== undefined && reserve) {
      this.reserved = reserve(declared);
      if (this.reserved) this.buffer = this.reserved.body;
    }
  }

  /** Still keeping the body (not dropped for its size or a failure). */
  get keeping(): boolean {
    return !this.dropped;
  }

  /** Body bytes copied so far. */
  get size(): number {
    return this.filled;
  }

  /** Bytes of memory the copy holds now. */
  get held(): number {
    return this.buffer?.length ?? 0;
  }

  add(chunk: Buffer): void {
    if (this.dropped) return;
    const end = this.filled + chunk.length;
    // Past the cap, or past its own Content-Length (the origin's framing is then broken anyway).
    if (end > this.limit) return this.drop();
    if (!this.buffer || end > this.buffer.length) this.grow(end);
    chunk.copy(this.buffer!, this.filled);
    this.filled = end;
  }

  /** The whole body, or null when it outgrew the cap (or its own Content-Length); the copy is then let go. */
  result(): Buffer | null {
    let body: Buffer | null = null;
    if (!this.dropped && (this.declared === undefined || this.filled === this.declared)) {
      const buffer = this.buffer ?? Buffer.allocUnsafeSlow(0);
      body = buffer.length === this.filled ? buffer : exactCopy(buffer, this.filled);
    }
    // The origin's response object may outlive this request (keep-alive sockets hold on to the
    // last one they parsed); it must not keep the body alive once the cache has evicted it.
    // A body in the store's room stays reserved until release(), after the put.
    this.resultTaken = body !== null;
    this.drop();
    return body;
  }

  drop(): void {
    this.dropped = true;
    this.buffer = null;
    // Dropped before the result was taken: the store's room goes back now.
    if (!this.resultTaken) this.release();
  }

  /** The store's room goes back (unless its put kept the body). Idempotent. */
  release(): void {
    const reserved = this.reserved;
    this.reserved = undefined;
    reserved?.release();
  }

  private grow(atLeast: number): void {
    const doubled = Math.max(FIRST_PIECE, (this.buffer?.length ?? 0) * 2, atLeast);
    const next = Buffer.allocUnsafeSlow(Math.min(this.limit, doubled));
    if (this.buffer) this.buffer.copy(next, 0, 0, this.filled);
    this.buffer = next;
  }
}

function contentLength(originRes: OriginResponse): number | undefined {
  const header = originRes.headers['content-length'];
  if (header === undefined || originRes.headers['transfer-encoding'] !== undefined) return undefined;
  const length = Number(header);
  return Number.isSafeInteger(length) && length >= 0 ? length : undefined;
}

/** The first `size` bytes in a buffer of their own (see BodyCopy on the shared pool). */
function exactCopy(buffer: Buffer, size: number): Buffer {
  const body = Buffer.allocUnsafeSlow(size);
  buffer.copy(body, 0, 0, size);
  return body;
}

/** The client's side of a transfer ended: it closed, or the send deadline cut it. */
function clientGone(clientRes: ClientResponse): AbortTransfer {
  if (wasCutBySendDeadline(clientRes.req?.socket)) return new AbortTransfer('client_send_timeout', 'the client accepted no bytes for --send-timeout: cut');
  return new AbortTransfer('client_gone', 'the client closed the connection');
}

/**
 * Stream originRes to clientRes; any failure on either side cuts the client's transfer.
 * A sink on the origin's body rather than a pipe: no stream machinery per response, and the
 * client's backpressure pauses the origin's socket ('drain' resumes it). Returns nothing when
 * the whole body was written at once (it arrived with the head, as most small ones do): no
 * promise, and no listener on the client; a promise otherwise.
 */
export function streamTo(
  originRes: OriginResponse,
  clientRes: ClientResponse,
  host: string,
  /** `onChunk` sees each chunk first and returns what the client gets of it. */
  options: { end?: boolean; onChunk?: (chunk: Buffer) => Buffer } = {},
): void | Promise<void> {
  // The client may have gone while the origin was still answering: nobody will say 'close' again.
  if (clientRes.destroyed) {
    originRes.destroy();
    return Promise.reject(clientGone(clientRes));
  }
  const transfer = new Transfer(originRes, clientRes, host, options.end !== false, options.onChunk);
  originRes.pipeInto(transfer);
  return transfer.outcome();
}

/**
 * One body on its way to the client. pipeInto writes what already arrived at once, so the
 * client is listened to ('close', 'drain') and a promise made only for a body still coming.
 */
class Transfer implements BodySink {
  private state: 'open' | 'ended' | 'failed' = 'open';
  private failure: AbortTransfer | undefined;
  private settle: { resolve: () => void; reject: (error: AbortTransfer) => void } | undefined;
  private onClientClose: (() => void) | undefined;
  private onDrain: (() => void) | undefined;

  constructor(
    private readonly originRes: OriginResponse,
    private readonly clientRes: ClientResponse,
    private readonly host: string,
    private readonly endClient: boolean,
    private readonly onChunk: ((chunk: Buffer) => Buffer) | undefined,
  ) {}

  /** Right after pipeInto: done (nothing), failed (a rejection), or a promise of the rest. */
  outcome(): void | Promise<void> {
    if (this.state === 'ended') return;
    if (this.state === 'failed') return Promise.reject(this.failure);
    const { clientRes, originRes } = this;
    this.onDrain = () => originRes.resumeBody();
    this.onClientClose = () => this.clientClosed();
    clientRes.on('close', this.onClientClose);
    clientRes.on('drain', this.onDrain);
    return new Promise((resolve, reject) => (this.settle = { resolve, reject }));
  }

  write(chunk: Buffer): boolean {
    return this.clientRes.write(this.onChunk ? this.onChunk(chunk) : chunk);
  }

  end(): void {
    if (this.state !== 'open') return;
    this.state = 'ended';
    this.stopListening();
    if (this.endClient) this.clientRes.end();
    this.settle?.resolve();
  }

  fail(error: Error): void {
    if (this.state !== 'open') return;
    this.state = 'failed';
    this.stopListening();
    this.clientRes.destroy();
    this.rejectWith(midBodyError(error, this.host));
  }

  private clientClosed(): void {
    if (this.state !== 'open') return;
    this.state = 'failed';
    this.stopListening();
    this.originRes.destroy();
    this.rejectWith(clientGone(this.clientRes));
  }

  private rejectWith(failure: AbortTransfer): void {
    this.failure = failure;
    this.settle?.reject(failure);
  }

  private stopListening(): void {
    if (!this.onClientClose) return;
    this.clientRes.off('close', this.onClientClose);
    this.clientRes.off('drain', this.onDrain!);
  }
}

/** Stored bodies up to this size go out in one write (the hit path); larger ones in pieces. */
const ONE_WRITE_MAX = 256 * 1024;
const PIECE = 64 * 1024;

/**
 * End clientRes with a stored body. A large body goes in pieces, each after the client took the
 * last: the send deadline measures a reader's progress by completed writes, and one write of
 * megabytes completes only when all of it is read, so a slow reader would look stalled.
 * Settles when the last piece is handed over; rejects when the client goes first.
 */
export function sendBody(clientRes: ClientResponse, body: Buffer | undefined): void | Promise<void> {
  if (!body || body.length <= ONE_WRITE_MAX) {
    clientRes.end(body);
    return;
  }
  const whole = body;
  return new Promise((resolve, reject) => {
    let offset = 0;
    const onClose = () => {
      clientRes.off('drain', next);
      reject(clientGone(clientRes));
    };
    function next(): void {
      while (offset < whole.length) {
        const piece = whole.subarray(offset, offset + PIECE);
        offset += piece.length;
        if (offset === whole.length) {
          clientRes.off('drain', next);
          clientRes.off('close', onClose);
          clientRes.end(piece);
          return resolve();
        }
        if (!clientRes.write(piece)) return;
      }
    }
    if (clientRes.destroyed) return reject(clientGone(clientRes));
    clientRes.on('drain', next);
    clientRes.once('close', onClose);
    next();
  });
}
