// Streaming an origin body to the client while keeping a copy for the store, bounded by
// --max-object-size: past the cap the copy is dropped and the stream goes on.
import type { ServerResponse } from 'node:http';
import { AbortTransfer } from '../errors.js';
import type { OriginResponse } from '../http/origin-response.js';
import { midBodyError } from '../http/upstream.js';

/**
 * Stream originRes to clientRes without ending it (the caller ends it after committing);
 * resolve with the whole body, or null if it outgrew `cap`.
 */
export async function teeBody(originRes: OriginResponse, clientRes: ServerResponse, cap: number, host: string): Promise<Buffer | null> {
  const copy = new BodyCopy(originRes, cap);
  await streamTo(originRes, clientRes, host, { end: false, onChunk: (chunk) => copy.add(chunk) });
  return copy.result();
}

/**
 * The store's copy of a body, in one buffer of exactly its length. With a Content-Length the
 * buffer is allocated once up front and each chunk is copied in as it arrives, so the socket's
 * read buffers die young instead of being held (and promoted to the old generation) until the
 * end of the body, and no second whole-body copy is made. The buffer is never a slice of
 * Buffer's shared 8 KiB pool: a small entry would otherwise keep a whole pool slab alive,
 * memory the cache's byte count does not see.
 */
class BodyCopy {
  private buffer: Buffer | null = null;
  private chunks: Buffer[] | null = null;
  private size = 0;
  private outgrown = false;

  constructor(
    originRes: OriginResponse,
    private readonly cap: number,
  ) {
    const declared = contentLength(originRes);
    if (declared === undefined) this.chunks = [];
    else if (declared > cap) this.outgrown = true;
    else this.buffer = Buffer.allocUnsafeSlow(declared);
  }

  add(chunk: Buffer): void {
    if (this.outgrown) return;
    const end = this.size + chunk.length;
    if (end > this.cap || (this.buffer && end > this.buffer.length)) {
      this.drop();
      return;
    }
    if (this.buffer) chunk.copy(this.buffer, this.size);
    else this.chunks!.push(chunk);
    this.size = end;
  }

  /** The whole body, or null when it outgrew the cap (or its own Content-Length). */
  result(): Buffer | null {
    const body = this.outgrown ? null : this.buffer ? (this.size === this.buffer.length ? this.buffer : null) : joined(this.chunks!, this.size);
    // The origin's response object may outlive this request (keep-alive sockets hold on to the
    // last one they parsed); it must not keep the body alive once the cache has evicted it.
    this.drop();
    return body;
  }

  private drop(): void {
    this.outgrown = true;
    this.buffer = null;
    this.chunks = null;
  }
}

function contentLength(originRes: OriginResponse): number | undefined {
  const header = originRes.headers['content-length'];
  if (header === undefined || originRes.headers['transfer-encoding'] !== undefined) return undefined;
  const length = Number(header);
  return Number.isSafeInteger(length) && length >= 0 ? length : undefined;
}

/** Chunks joined into one buffer of their own (see BodyCopy on the shared pool). */
function joined(chunks: Buffer[], size: number): Buffer {
  const body = Buffer.allocUnsafeSlow(size);
  let offset = 0;
  for (const chunk of chunks) offset += chunk.copy(body, offset);
  return body;
}

/**
 * Stream originRes to clientRes; any failure on either side cuts the client's transfer.
 * A sink on the origin's body rather than a pipe: no stream machinery per response, and the
 * client's backpressure pauses the origin's socket ('drain' resumes it).
 */
export function streamTo(
  originRes: OriginResponse,
  clientRes: ServerResponse,
  host: string,
  options: { end?: boolean; onChunk?: (chunk: Buffer) => void } = {},
): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const onChunk = options.onChunk;
    const onDrain = () => originRes.resumeBody();
    const onClientClose = () => {
      if (settled) return;
      settled = true;
      clientRes.off('drain', onDrain);
      originRes.destroy();
      reject(new AbortTransfer('client_gone', 'the client closed the connection'));
    };
    const cleanup = () => {
      settled = true;
      clientRes.off('close', onClientClose);
      clientRes.off('drain', onDrain);
    };
    // The client may have gone while the origin was still answering: nobody will say 'close' again.
    if (clientRes.destroyed) return onClientClose();
    clientRes.on('close', onClientClose);
    clientRes.on('drain', onDrain);
    originRes.pipeInto({
      write(chunk) {
        onChunk?.(chunk);
        return clientRes.write(chunk);
      },
      end() {
        if (settled) return;
        cleanup();
        if (options.end !== false) clientRes.end();
        resolve();
      },
      fail(error) {
        if (settled) return;
        cleanup();
        clientRes.destroy();
        reject(midBodyError(error, host));
      },
    });
  });
}

/** Read a whole body with no client attached (background refresh); null past `cap`. */
export function collectBody(originRes: OriginResponse, cap: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    originRes.pipeInto({
      write(chunk) {
        size += chunk.length;
        if (size > cap) {
          originRes.destroy();
          resolve(null);
          return false;
        }
        chunks.push(chunk);
        return true;
      },
      end: () => resolve(joined(chunks, size)),
      fail: reject,
    });
  });
}
