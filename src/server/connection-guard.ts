// Per-connection bookkeeping of the listener: the --max-connections limit and each client
// address's share of it (connection-table.ts: an idle connection makes room, else 503), which
// connections are idle (requests in flight, tunnels: the TunnelStates tunnel-contents.ts reports),
// the send deadline (--send-timeout, send-deadline.ts), and answers to input node's parser rejects ('clientError': 400 / 408 / 431), written only after
// the answers still owed to the requests pipelined before it (RFC 9112 §9.3.2: in order).
// What a request itself gets is the pipeline's job; this module never reads a request.
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ProxyError } from '../errors.js';
import type { Logger } from '../observe/log.js';
import { WarningSummary } from '../observe/log-summary.js';
import { redactUrl } from '../observe/redact.js';
import { ConnectionTable, type Held } from './connection-table.js';
import { answerSocket } from './early-answers.js';
import { SendDeadline } from './send-deadline.js';
import type { TunnelStates } from './tunnel-contents.js';

/** After our half-close, how long a client may take to read the answer before the socket goes. */
const LINGER_MS = 2000;

interface Exchange {
  clientReq: IncomingMessage;
  clientRes: ServerResponse;
}

/** What the guard knows of one socket (accepted, or served inside a tunnel): one lookup per request. */
interface SocketState {
  /** Its place in the connection table; a tunnel's inner socket shares its outer socket's. */
  held: Held<Duplex> | undefined;
  /** Refused past the limits: its 503 is written, nothing it sends is answered. */
  refused: boolean;
  /** Its input went bad: its answer is written (or waiting); nothing more is read. */
  failed: boolean;
  /** The last two requests: enough, since node answers them strictly in order. */
  last: Exchange | undefined;
  previous: Exchange | undefined;
  /** Marks the connection's request done (idle when none is left): made once per connection, not per request. */
  requestDone: (() => void) | undefined;
}

export function describeDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** The answer to a parser error, by node's error code. */
export function clientErrorAnswer(code: string, headersTimeoutMs: number): ProxyError {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return new ProxyError(431, 'headers_too_large', `request head larger than ${http.maxHeaderSize} bytes (${code})`);
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new ProxyError(408, 'request_timeout', `the request head did not arrive within ${describeDuration(headersTimeoutMs)} (--headers-timeout)`);
    default:
      return new ProxyError(400, 'bad_request', `malformed HTTP request (${code})`);
  }
}

/** A first line of the form `METHOD target` and nothing more, ended by a line break. */

export interface ConnectionLimits {
  maxConnections: number;
  /** The share of maxConnections one client address may hold (connection-table.ts perClientShare). */
  maxPerClient: number;
  headersTimeoutMs: number;
  /** No progress writing to a client for this long cuts it (0: never). */
  sendTimeoutMs: number;
}

export class ConnectionGuard implements TunnelStates {
  private readonly table: ConnectionTable<Duplex>;
  /** Each accepted socket, and each socket served inside its tunnel. */
  private readonly states = new WeakMap<Duplex, SocketState>();
  private readonly evictions: WarningSummary;
  /** A flood of connections past the limits is one line per interval, not one per connection. */
  private readonly refusals: WarningSummary;
  private readonly sendDeadline: SendDeadline;

  constructor(
    private readonly limits: ConnectionLimits,
    private readonly logger: Logger,
  ) {
    this.table = new ConnectionTable(limits.maxConnections, limits.maxPerClient);
    this.evictions = new WarningSummary(logger, { message: 'closed idle connections to make room for new ones', samplesField: 'clients' });
    this.refusals = new WarningSummary(logger, { message: 'refused more connections past --max-connections or a client share (503 too_many_connections)', samplesField: 'clients' });
    this.sendDeadline = new SendDeadline(limits.sendTimeoutMs, (socket, pending) => this.onSendTimeout(socket, pending));
  }

  /** The listener closed: no more sweeps. */
  stop(): void {
    this.sendDeadline.stop();
  }

  private stateOf(socket: Duplex): SocketState {
    let state = this.states.get(socket);
    if (!state) {
      state = { held: undefined, refused: false, failed: false, last: undefined, previous: undefined, requestDone: undefined };
      this.states.set(socket, state);
    }
    return state;
  }

  /** Count a new connection (an idle one may make room for it); past the limits answer 503 and close it. */
  onConnection(socket: Duplex & { remoteAddress?: string }): void {
    // A tunnel's contents come back as a connection of their own: the tunnel already counts.
    if (!this.states.get(socket)?.held && !this.admitConnection(socket)) return;
    this.sendDeadline.watch(socket as Socket);
    // No 'data' listener here (or anywhere on a client socket): adding one makes node take its
    // HTTP parser off the socket (every read then goes through JS streams), about 9 % more
    // instructions per request. So an HTTP/0.9 request line alone (`GET /` with no version and no
    // blank line) is not spotted from its first bytes: llhttp waits for header lines, and it gets
    // the 408 of any incomplete head at --headers-timeout. With its blank line, node reads it as
    // 0.9 and early-answers.ts refuses it at once.
    // node ends a half-closed connection after its last answer; that answer should say so
    // (RFC 9112 §9.6) rather than announce a keep-alive that will not happen.
    socket.once('end', () => {
      const last = this.states.get(socket)?.last;
      if (last && !last.clientRes.headersSent) last.clientRes.shouldKeepAlive = false;
    });
  }

  private admitConnection(socket: Duplex & { remoteAddress?: string }): boolean {
    const client = socket.remoteAddress ?? '';
    const admission = this.table.open(socket, client);
    if ('refused' in admission) {
      this.stateOf(socket).refused = true;
      socket.on('error', () => {});
      const { maxConnections, maxPerClient } = this.limits;
      const [message, max] =
        admission.refused === 'client'
          ? [`client ${client} already holds ${maxPerClient} connections (--max-connections-per-client); try again shortly`, maxPerClient]
          : [`this proxy already serves ${maxConnections} connections (--max-connections); try again shortly`, maxConnections];
      answerSocket(socket, new ProxyError(503, 'too_many_connections', message));
      linger(socket);
      this.refusals.note('connection', { status: 503, error: 'too_many_connections', client, max, limit: admission.refused === 'client' ? 'per-client' : 'total' }, client);
      return false;
    }
    const { held, evicted } = admission;
    this.stateOf(socket).held = held;
    socket.once('close', () => this.table.close(held));
    if (evicted) {
      evicted.inner?.destroy();
      evicted.socket.destroy();
      this.evictions.note('closed an idle connection to make room for a new one', { client: evicted.client, for: client, open: this.table.size }, evicted.client);
    }
    return true;
  }

  /** A CONNECT or an upgrade arrived on `socket`: busy while it opens (an upgrade: until it closes). */
  tunnelOpening(socket: Duplex): void {
    const held = this.states.get(socket)?.held;
    if (held) this.table.busy(held);
  }

  waiting(socket: Duplex): void {
    const held = this.states.get(socket)?.held;
    if (held) this.table.done(held);
  }

  blind(socket: Duplex): void {
    const held = this.states.get(socket)?.held;
    if (held) this.table.busy(held);
  }

  served(socket: Duplex, inner: Duplex): void {
    const held = this.states.get(socket)?.held;
    if (!held) return;
    if (inner !== socket) held.inner = inner;
    this.stateOf(inner).held = held;
  }

  /**
   * Run `handle` for a parsed request, unless its connection was refused (its 503 is already
   * written) or its input went bad. The connection is busy until the answer is out: an answer
   * written in full before `handle` returns (a hit) only makes it the connection used last; one
   * still on its way holds it busy until its response closes.
   */
  serve(clientReq: IncomingMessage, clientRes: ServerResponse, handle: (clientReq: IncomingMessage, clientRes: ServerResponse) => void): void {
    const state = this.stateOf(clientReq.socket);
    if (state.refused || state.failed) return;
    state.previous = state.last;
    state.last = { clientReq, clientRes };
    handle(clientReq, clientRes);
    const held = state.held;
    if (!held) return;
    // writableFinished: every byte handed to the kernel; nothing can take the connection meanwhile.
    if (clientRes.writableFinished) return this.table.touch(held);
    this.table.busy(held);
    // 'on', not 'once': a response says 'close' once, and needs no wrapper of its own for it.
    clientRes.on('close', (state.requestDone ??= () => this.table.done(held)));
  }

  /** The response to the last request admitted on `socket` (a drain's view: drain.ts). */
  lastResponse(socket: Duplex): ServerResponse | undefined {
    return this.states.get(socket)?.last?.clientRes;
  }

  /**
   * Run `next` once every answer owed on this socket is out (RFC 9112 §9.3.2: answers in request
   * order). A CONNECT pipelined behind a pending request must not write its own answer first.
   */
  afterOwedAnswers(socket: Duplex, next: () => void): void {
    const owed = this.states.get(socket)?.last;
    if (!owed || owed.clientRes.writableFinished) return next();
    let ran = false;
    const once = () => {
      if (ran) return;
      ran = true;
      if (owed.clientRes.writableFinished && !socket.destroyed) next();
      else socket.destroy(); // the earlier answer was cut: nothing may follow it
    };
    owed.clientRes.once('finish', once);
    owed.clientRes.once('close', once);
  }

  /** A socket whose 'connect' must be ignored (refused) or that may go on to a tunnel. */
  isRefused(socket: Duplex): boolean {
    return this.states.get(socket)?.refused ?? false;
  }

  onClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
    // llhttp stays in its error state: every later chunk (and the end) reports again.
    const state = this.stateOf(socket);
    if (state.failed || state.refused) return;
    state.failed = true;
    const code = error.code ?? 'HPE_INVALID';
    if (code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const answer = clientErrorAnswer(code, this.limits.headersTimeoutMs);
    const { last, previous } = state;
    // The request being read when the input broke (its body cut or malformed) owes no answer of
    // its own unless the pipeline already started one; everything before it does.
    const owed = last && (last.clientReq.complete || last.clientRes.headersSent) ? last : previous;
    const write = () => {
      const unfinished = last && last !== owed && last.clientRes.headersSent && !last.clientRes.writableFinished;
      if (socket.destroyed || !socket.writable || unfinished) {
        // A response that closes the connection went last, or one is half-sent: a status line
        // can no longer be placed after it.
        socket.destroy();
        return;
      }
      answerSocket(socket, answer);
      linger(socket);
      this.logger.warn('request', { status: answer.status, error: answer.code, detail: code });
    };
    if (!owed || owed.clientRes.writableFinished) write();
    else owed.clientRes.once('close', write);
  }

  /** One line for a cut no running request will report (its own access line carries the code). */
  private onSendTimeout(socket: Socket, pendingBytes: number): boolean {
    const last = this.states.get(socket)?.last;
    if (last && !last.clientRes.writableEnded) return false;
    this.logger.warn('connection', {
      error: 'client_send_timeout',
      detail: `the client accepted none of ${pendingBytes} bytes for ${describeDuration(this.sendDeadline.timeoutMs)} (--send-timeout)`,
      client: socket.remoteAddress,
      ...(last && { method: last.clientReq.method, url: redactUrl(last.clientReq.url ?? '') }),
    });
    return true;
  }
}

/** Close for good once the client has had time to read what we wrote after our FIN. */
function linger(socket: Duplex): void {
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}
