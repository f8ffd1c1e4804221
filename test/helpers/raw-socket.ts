// A raw TCP client for wire tests that node:http cannot express: pipelined requests, garbage
// after a valid request, a half-close after the request, several keep-alive exchanges on one
// socket. parseResponses() splits what came back into responses (Content-Length or chunked).
import net from 'node:net';

export interface RawResponse {
  statusLine: string;
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export class RawSocket {
  readonly socket: net.Socket;
  private received = Buffer.alloc(0);
  private readonly closedPromise: Promise<void>;
  closed = false;

  /** `localAddress` (127.0.0.2, …) makes it another client address on the loopback interface. */
  constructor(port: number, host = '127.0.0.1', localAddress?: string) {
    this.socket = net.connect({ port, host, ...(localAddress && { localAddress }) });
    this.socket.on('data', (chunk: Buffer) => (this.received = Buffer.concat([this.received, chunk])));
    this.socket.on('error', () => {});
    this.closedPromise = new Promise((resolve) => this.socket.once('close', () => ((this.closed = true), resolve())));
  }

  /** Everything received so far. */
  get bytes(): Buffer {
    return this.received;
  }

  connected(): Promise<void> {
    return new Promise((resolve) => (this.socket.connecting ? this.socket.once('connect', () => resolve()) : resolve()));
  }

  write(text: string | Buffer): this {
    this.socket.write(text);
    return this;
  }

  /** Send the last bytes and shut down our write side (the socket stays open for reading). */
  end(text?: string | Buffer): this {
    if (text === undefined) this.socket.end();
    else this.socket.end(text);
    return this;
  }

  /** Everything received until the proxy closes the connection (or `ms` pass: then destroyed). */
  async untilClose(ms = 5000): Promise<Buffer> {
    const timer = setTimeout(() => this.socket.destroy(), ms);
    await this.closedPromise;
    clearTimeout(timer);
    return this.received;
  }

  /** Wait until `count` whole responses have arrived, and return them. */
  async responses(count: number, ms = 5000): Promise<RawResponse[]> {
    const deadline = Date.now() + ms;
    for (;;) {
      const { responses } = parseResponses(this.received);
      if (responses.length >= count) return responses;
      if (this.closed || Date.now() > deadline) throw new Error(`expected ${count} responses, got ${responses.length}: ${JSON.stringify(this.received.toString('latin1').slice(0, 500))}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Whole responses at the start of `data`, and how many bytes are left after them. */
export function parseResponses(data: Buffer, headRequests = 0): { responses: RawResponse[]; rest: number } {
  const responses: RawResponse[] = [];
  let at = 0;
  for (;;) {
    const headEnd = data.indexOf('\r\n\r\n', at);
    if (headEnd < 0) break;
    const lines = data.subarray(at, headEnd).toString('latin1').split('\r\n');
    const statusLine = lines[0]!;
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    let cursor = headEnd + 4;
    let body: Buffer;
    if (responses.length < headRequests) {
      body = Buffer.alloc(0);
    } else if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
      const chunks: Buffer[] = [];
      for (;;) {
        const lineEnd = data.indexOf('\r\n', cursor);
        if (lineEnd < 0) return { responses, rest: data.length - at };
        const size = parseInt(data.subarray(cursor, lineEnd).toString('latin1'), 16);
        if (data.length < lineEnd + 2 + size + 2) return { responses, rest: data.length - at };
        chunks.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
        cursor = lineEnd + 2 + size + 2;
        if (size === 0) break;
      }
      body = Buffer.concat(chunks);
    } else {
      const length = Number(headers['content-length'] ?? 0);
      if (data.length < cursor + length) break;
      body = data.subarray(cursor, cursor + length);
      cursor += length;
    }
    responses.push({ statusLine, status: Number(statusLine.split(' ')[1]), headers, body });
    at = cursor;
  }
  return { responses, rest: data.length - at };
}
