// Requests answered by the listener before the pipeline sees them: request lines node's parser
// lets through but HTTP/1.1 does not (llhttp reads a missing version as 0.9 and accepts 2.0),
// TRACE, and the raw answers written straight to a socket (malformed input, timeouts, too many
// connections). Every answer is a short text body naming the problem; callers log one line.
import { STATUS_CODES } from 'node:http';
import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { ProxyError } from '../errors.js';

/** What the proxy forwards; TRACE is not among them (RFC 9110 §9.3.8: it echoes credentials). */
export const ALLOWED_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, CONNECT';

/** The refusal for a parsed request line, or undefined when the pipeline may have it. */
export function requestLineRefusal(method: string | undefined, major: number, minor: number): ProxyError | undefined {
  // llhttp (node 20, 22) turns a request line without a version into major 0, minor 9, and reads
  // "HTTP/0.9" the same way: both are invalid HTTP/1.1 request lines (RFC 9112 §3).
  if (major === 0) return new ProxyError(400, 'bad_request', 'request line without an HTTP version (HTTP/0.9 is not supported); send METHOD target HTTP/1.1');
  // RFC 9110 §15.6.6: 505 for a major version the server does not support. llhttp accepts 2.0.
  if (major !== 1) return new ProxyError(505, 'http_version_not_supported', `HTTP/${major}.${minor} is not supported; send HTTP/1.1 (or HTTP/1.0)`);
  if (method === 'TRACE') return new ProxyError(405, 'method_not_allowed', 'TRACE is not forwarded by this proxy', { allow: ALLOWED_METHODS });
  return undefined;
}

export function errorBody(error: ProxyError): string {
  return `${error.status} ${error.code}: ${error.message}\n`;
}

/** Answer through node's response, so it keeps its place among pipelined answers. */
export function answerResponse(clientRes: ServerResponse, error: ProxyError, method: string | undefined): void {
  const body = errorBody(error);
  clientRes.writeHead(error.status, {
    ...error.headers,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    // Past a request line we do not understand, the framing of what follows cannot be trusted.
    ...(error.status !== 405 && { connection: 'close' }),
  });
  clientRes.end(method === 'HEAD' ? undefined : body);
}

/** Write a whole answer to a socket that has no response object, then half-close it. */
export function answerSocket(socket: Duplex, error: ProxyError): void {
  const body = errorBody(error);
  const extra = Object.entries(error.headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.end(
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? 'Error'}\r\ncontent-type: text/plain; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\ncache-control: no-store\r\n${extra}connection: close\r\n\r\n${body}`,
  );
}
