// Raw HTTP/1.1 over a socket for the fault suite: send bytes exactly as given (in pieces, with an
// optional half-close), read back what the server answers, and split it into responses (status,
// headers, body by Content-Length or chunked; none for HEAD / 1xx / 204 / 304) plus whether the
// server closed the connection. No HTTP library between the bytes and the table's expectations.
import net from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export interface Exchange {
  responses: RawResponse[];
  /** The server closed (or reset) the connection before the exchange's deadline. */
  closed: boolean;
  /** Bytes after the last whole response (a cut response, or garbage). */
  trailing: Buffer;
  /** A socket error (e.g. ECONNRESET) seen on the connection, if any. */
  error?: string;
}

export interface ExchangeOptions {
  /** Pieces written one after another (a short pause between them), or all at once. */
  pieces?: (string | Buffer)[];
  /** Send FIN after the last piece (a half-closed client). */
  halfClose?: boolean;
  /** Indexes of the requests that are HEAD: their responses carry no body. */
  headAt?: number[];
  /** Finish as soon as this many responses arrived (and the close, if `untilClose`). */
  expectResponses?: number;
  untilClose?: boolean;
  /** Longest wait overall, in ms. */
  timeoutMs?: number;
  pauseMs?: number;
}

export function exchange(port: number, host: string, payload: string | Buffer, options: ExchangeOptions = {}): Promise<Exchange> {
  const pieces = options.pieces ?? [payload];
  const timeoutMs = options.timeoutMs ?? 2000;
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const chunks: Buffer[] = [];
    let closed = false;
    let error: string | undefined;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      const parsed = parseResponses(Buffer.concat(chunks), new Set(options.headAt ?? []));
      resolve({ ...parsed, closed, ...(error !== undefined && { error }) });
    };
    const timer = setTimeout(finish, timeoutMs);
    const maybeDone = () => {
      if (options.expectResponses === undefined) return;
      const { responses } = parseResponses(Buffer.concat(chunks), new Set(options.headAt ?? []));
      if (responses.length >= options.expectResponses && (!options.untilClose || closed)) finish();
    };
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      maybeDone();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      error = err.code ?? err.message;
    });
    socket.on('close', () => {
      closed = true;
      if (options.expectResponses === undefined) finish();
      else maybeDone();
      // Nothing more can arrive once the socket is closed.
      finish();
    });
    socket.on('connect', () => {
      void (async () => {
        for (let i = 0; i < pieces.length; i++) {
          if (socket.destroyed) return;
          socket.write(pieces[i]!);
          if (i < pieces.length - 1) await new Promise((r) => setTimeout(r, options.pauseMs ?? 20));
        }
        if (options.halfClose) socket.end();
      })();
    });
  });
}

/** Split raw bytes into whole responses; what is left is `trailing`. */
export function parseResponses(data: Buffer, headAt: ReadonlySet<number>): { responses: RawResponse[]; trailing: Buffer } {
  const responses: RawResponse[] = [];
  let offset = 0;
  let requestIndex = 0;
  for (;;) {
    const headEnd = data.indexOf('\r\n\r\n', offset, 'latin1');
    if (headEnd < 0) break;
    const lines = data.subarray(offset, headEnd).toString('latin1').split('\r\n');
    const statusMatch = /^HTTP\/\d\.\d (\d{3})/.exec(lines[0] ?? '');
    if (!statusMatch) break;
    const status = Number(statusMatch[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) {
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
      }
    }
    let cursor = headEnd + 4;
    let body: Buffer = Buffer.alloc(0);
    const informational = status >= 100 && status < 200;
    const bodiless = informational || status === 204 || status === 304 || headAt.has(requestIndex);
    if (!bodiless) {
      if (headers['transfer-encoding']?.toLowerCase().includes('chunked')) {
        const chunked = readChunked(data, cursor);
        if (!chunked) break;
        body = chunked.body;
        cursor = chunked.end;
      } else if (headers['content-length'] !== undefined) {
        const length = Number(headers['content-length']);
        if (data.length < cursor + length) break;
        body = data.subarray(cursor, cursor + length);
        cursor += length;
      } else {
        // Delimited by the close: everything that is left.
        body = data.subarray(cursor);
        cursor = data.length;
      }
    }
    responses.push({ status, headers, body: Buffer.from(body) });
    offset = cursor;
    if (!informational) requestIndex++;
  }
  return { responses, trailing: Buffer.from(data.subarray(offset)) };
}

function readChunked(data: Buffer, start: number): { body: Buffer; end: number } | undefined {
  const parts: Buffer[] = [];
  let cursor = start;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', cursor, 'latin1');
    if (lineEnd < 0) return undefined;
    const size = parseInt(data.subarray(cursor, lineEnd).toString('latin1').split(';')[0]!, 16);
    if (!Number.isFinite(size)) return undefined;
    cursor = lineEnd + 2;
    if (size === 0) {
      const trailerEnd = data.indexOf('\r\n\r\n', cursor - 2, 'latin1');
      if (trailerEnd < 0) return undefined;
      return { body: Buffer.concat(parts), end: trailerEnd + 4 };
    }
    if (data.length < cursor + size + 2) return undefined;
    parts.push(data.subarray(cursor, cursor + size));
    cursor += size + 2;
  }
}
