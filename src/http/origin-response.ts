// The origin's answer as the pipeline sees it, whichever client fetched it (undici or node:http):
// status, header fields in node's shapes (`headers`, `rawHeaders`), and a body that flows into
// one sink with backpressure. Lighter than a Readable: no stream state machine per response,
// and a 304 (no body) costs an object and nothing else.
import type { IncomingHttpHeaders } from 'node:http';

/** An interim (1xx) response (RFC 9110 §15.2), for relaying to the client. */
export interface InterimResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
}

/** Where the body goes: `write` returns false to pause the origin until `resumeBody()`. */
export interface BodySink {
  write(chunk: Buffer): boolean;
  end(): void;
  fail(error: Error): void;
}

/** The client library's side of a body: flow control (it pauses itself when push returns false) and abort. */
export interface BodySource {
  resume(): void;
  abort(error: Error): void;
}

// node's rules for repeated fields (IncomingMessage#_addHeaderLine, RFC 9110 §5.3): these keep
// the first value, Set-Cookie becomes an array, Cookie joins with "; ", the rest with ", ".
const FIRST_WINS: ReadonlySet<string> = new Set([
  'age', 'authorization', 'content-length', 'content-type', 'etag', 'expires', 'from', 'host', 'if-modified-since',
  'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'proxy-authorization', 'referer', 'retry-after',
  'server', 'user-agent',
]);

// Field names as origins spell them → lower case. The lower-case name then comes back as the
// same string every time, one the object's property lookups find at once (a name made afresh
// is first looked up in V8's string table, on every read and write). Bounded: past it, or for
// a long name, the name is lower-cased each time.
const LOWER_NAMES = new Map<string, string>();
const MAX_LOWER_NAMES = 512;
const MAX_LOWER_NAME_CHARS = 64;

function lowerName(name: string): string {
  let lower = LOWER_NAMES.get(name);
  if (lower === undefined) {
    lower = name.toLowerCase();
    if (LOWER_NAMES.size < MAX_LOWER_NAMES && name.length <= MAX_LOWER_NAME_CHARS) LOWER_NAMES.set(name, lower);
  }
  return lower;
}

/** rawHeaders (name, value, name, value…) → node's `headers` object. */
export function headersObject(rawHeaders: readonly string[]): IncomingHttpHeaders {
  const headers: Record<string, string | string[]> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = lowerName(rawHeaders[i]!);
    const value = rawHeaders[i + 1]!;
    const existing = headers[name];
    if (existing === undefined) headers[name] = name === 'set-cookie' ? [value] : value;
    else if (name === 'set-cookie') (existing as string[]).push(value);
    else if (FIRST_WINS.has(name)) continue;
    else headers[name] = `${existing as string}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
  return headers as IncomingHttpHeaders;
}

type BodyState = 'open' | 'ended' | 'failed';

export class OriginResponse {
  /** Bytes of head and body received (an estimate of the head's framing): for the metrics. */
  receivedBytes = 0;
  /** Request sent → this head, in ms: set by the meter (metered-upstream.ts), for the access log. */
  headMs: number | undefined = undefined;
  /** The parent proxy that carried the exchange (`pool`, `scheme://host:port`), none when direct: for logs and counters. */
  parent: { pool: string; label: string } | undefined = undefined;
  readonly httpVersion = '1.1';
  private sink: BodySink | null = null;
  private queued: Buffer[] | null = null;
  private state: BodyState = 'open';
  private failure: Error | null = null;
  private paused = false;
  private settledHook: (() => void) | null = null;
  /** A peek in progress (peekHead): how many bytes it waits for, and whom to tell. */
  private peeker: { bytes: number; done: (head: Buffer) => void } | null = null;
  private queuedBytes = 0;

  constructor(
    readonly statusCode: number,
    readonly statusMessage: string,
    readonly rawHeaders: string[],
    readonly headers: IncomingHttpHeaders,
    private readonly source: BodySource,
  ) {}

  get ended(): boolean {
    return this.state === 'ended';
  }

  /** The error the body failed with, if it did. */
  get errored(): Error | null {
    return this.failure;
  }

  // ── the client library's side ──

  /** A body chunk; false asks the source to pause. */
  push(chunk: Buffer): boolean {
    this.receivedBytes += chunk.length;
    if (this.state !== 'open') return true;
    if (this.sink) {
      if (this.sink.write(chunk)) return true;
      this.paused = true;
      return false;
    }
    (this.queued ??= []).push(chunk);
    this.queuedBytes += chunk.length;
    if (this.peeker) {
      // A peek keeps the source flowing until it has its bytes (at most one chunk past them).
      if (this.queuedBytes < this.peeker.bytes) return true;
      this.endPeek();
    }
    // Nobody reads yet (the step is still deciding): hold a little, then stop the socket.
    if (this.queued.length >= 4) {
      this.paused = true;
      return false;
    }
    return true;
  }

  finish(): void {
    if (this.state !== 'open') return;
    this.state = 'ended';
    if (this.sink && !this.queued) this.sink.end();
    this.endPeek();
    this.settle();
  }

  fail(error: Error): void {
    if (this.state !== 'open') return;
    this.state = 'failed';
    this.failure = error;
    this.endPeek();
    this.queued = null;
    if (this.sink) this.sink.fail(error);
    this.settle();
  }

  // ── the pipeline's side ──

  /**
   * Wait for the first `bytes` of the body (or its end, or its failure) without consuming them:
   * `done` gets a copy of what arrived, and the whole body still goes to the sink given to
   * `pipeInto` later, byte for byte. Before `pipeInto` only; once per response. The returned
   * function stops waiting (a deadline) and calls `done` with what arrived so far.
   */
  peekHead(bytes: number, done: (head: Buffer) => void): () => void {
    if (this.sink || this.peeker) throw new Error('peekHead: the body is already being read');
    this.peeker = { bytes, done };
    if (this.state !== 'open' || this.queuedBytes >= bytes) this.endPeek();
    // Paused by the four-chunk hold before the peek began: let the origin send its first bytes.
    else if (this.paused) this.resumeBody();
    return () => this.endPeek();
  }

  private endPeek(): void {
    const peeker = this.peeker;
    if (!peeker) return;
    this.peeker = null;
    peeker.done(Buffer.concat(this.queued ?? [], Math.min(this.queuedBytes, peeker.bytes)));
  }

  /** Send the body (what arrived so far, then the rest) into `sink`; once per response. */
  pipeInto(sink: BodySink): void {
    this.sink = sink;
    if (this.state === 'failed') return sink.fail(this.failure!);
    const queued = this.queued;
    let ready = true;
    if (queued) {
      this.queued = null;
      this.queuedBytes = 0;
      for (const chunk of queued) ready = sink.write(chunk);
    }
    if (this.state === 'ended') return sink.end();
    // A sink already full waits for its drain (resumeBody); the source is told by the next push.
    if (this.paused && ready) this.resumeBody();
  }

  /** The sink drained: let the origin send again. */
  resumeBody(): void {
    if (!this.paused || this.state !== 'open') return;
    this.paused = false;
    this.source.resume();
  }

  /** Read and drop the body (a 304, or an answer nobody will see), keeping the connection. */
  resume(): void {
    if (this.sink) return;
    this.pipeInto(DISCARD);
  }

  /** Abandon the exchange: the connection is closed, the body reported failed. */
  destroy(error: Error = Object.assign(new Error('origin response abandoned'), { code: 'ECONNRESET' })): void {
    if (this.state !== 'open') return;
    this.source.abort(error);
    this.fail(error);
  }

  /** Called once when the body has ended or failed (metrics, the client's share of the origin). */
  onSettled(hook: () => void): void {
    if (this.state !== 'open') return hook();
    const before = this.settledHook;
    this.settledHook = before
      ? () => {
          before();
          hook();
        }
      : hook;
  }

  private settle(): void {
    const hook = this.settledHook;
    this.settledHook = null;
    hook?.();
  }
}

const DISCARD: BodySink = { write: () => true, end: () => {}, fail: () => {} };
