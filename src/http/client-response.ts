// The client's side of a transaction, as the pipeline's steps use it: the members of node's
// ServerResponse they call (a ServerResponse is one), so that a transaction with no client (a background revalidation,
// pipeline/run.ts) can answer into a sink that drops everything. The compiler holds the steps
// to this list, so the sink cannot miss a member they use.
import { EventEmitter } from 'node:events';
import type { IncomingMessage, OutgoingHttpHeader, OutgoingHttpHeaders } from 'node:http';

export interface ClientResponse {
  /** The request it answers (send-deadline bookkeeping); a sink answers none. */
  readonly req?: IncomingMessage;
  statusCode: number;
  readonly headersSent: boolean;
  readonly destroyed: boolean;
  /** Bytes written and not yet taken by the socket. */
  readonly writableLength: number;
  writeHead(statusCode: number, headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): unknown;
  writeHead(statusCode: number, statusMessage: string | undefined, headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): unknown;
  /** False: wait for 'drain'. */
  write(chunk: Buffer | string): boolean;
  end(chunk?: Buffer | string): unknown;
  destroy(): unknown;
  getHeader(name: string): number | string | string[] | undefined;
  on(event: 'close' | 'drain', listener: () => void): unknown;
  once(event: 'close' | 'drain', listener: () => void): unknown;
  off(event: 'close' | 'drain', listener: () => void): unknown;
  writeContinue(): void;
  writeProcessing(): void;
  writeEarlyHints(hints: Record<string, string | string[]>): void;
}

/**
 * Where a background transaction's answer goes: nowhere. Every write is accepted at once (no
 * backpressure, so an origin body streams through as fast as it arrives) and dropped; the
 * head's status is kept, as a ServerResponse keeps it, for whoever reads the transaction after.
 * A destroy (a failed transfer) says 'close' as a socket would.
 */
export class NullClientResponse extends EventEmitter implements ClientResponse {
  statusCode = 200;
  headersSent = false;
  destroyed = false;
  readonly writableLength = 0;

  writeHead(statusCode: number): this {
    this.statusCode = statusCode;
    this.headersSent = true;
    return this;
  }

  getHeader(): undefined {
    return undefined;
  }

  write(): boolean {
    return true;
  }

  end(): this {
    return this;
  }

  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    queueMicrotask(() => this.emit('close'));
    return this;
  }

  writeContinue(): void {}

  writeProcessing(): void {}

  writeEarlyHints(): void {}
}
