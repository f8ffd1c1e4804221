// Streaming an origin body to the client while keeping a copy for the store, bounded by
// --max-object-size: past the cap the copy is dropped and the stream goes on.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AbortTransfer } from '../errors.js';
import { midBodyError } from '../http/upstream.js';

/**
 * Stream originRes to clientRes without ending it (the caller ends it after committing);
 * resolve with the whole body, or null if it outgrew `cap`.
 */
export async function teeBody(originRes: IncomingMessage, clientRes: ServerResponse, cap: number, host: string): Promise<Buffer | null> {
  let chunks: Buffer[] | null = [];
  let size = 0;
  originRes.on('data', (chunk: Buffer) => {
    if (!chunks) return;
    size += chunk.length;
    if (size > cap) chunks = null;
    else chunks.push(chunk);
  });
  await streamTo(originRes, clientRes, host, { end: false });
  return chunks ? Buffer.concat(chunks, size) : null;
}

/**
 * Stream originRes to clientRes; any failure on either side cuts the client's transfer.
 * Plain pipe() with explicit listeners: stream/promises' pipeline() costs an AbortController
 * and a DOMException per response, a measurable share of a small pass-through.
 */
export function streamTo(originRes: IncomingMessage, clientRes: ServerResponse, host: string, options: { end?: boolean } = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      originRes.off('error', onOriginError);
      originRes.off('end', onEnd);
      clientRes.off('close', onClientClose);
    };
    const onOriginError = (error: Error) => {
      cleanup();
      clientRes.destroy();
      reject(midBodyError(error, host));
    };
    const onClientClose = () => {
      cleanup();
      originRes.destroy();
      reject(new AbortTransfer('client_gone', 'the client closed the connection'));
    };
    const onEnd = () => {
      cleanup();
      if (options.end !== false) clientRes.end();
      resolve();
    };
    originRes.on('error', onOriginError);
    originRes.on('end', onEnd);
    clientRes.on('close', onClientClose);
    originRes.pipe(clientRes, { end: false });
  });
}

/** Read a whole body with no client attached (background refresh); null past `cap`. */
export async function collectBody(originRes: IncomingMessage, cap: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of originRes as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > cap) {
      originRes.destroy();
      return null;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}
