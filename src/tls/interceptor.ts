// TLS interception: which CONNECT hosts have their TLS ended here (--intercept, minus
// --passthrough), and the server side of that handshake: a leaf for the SNI name (else the
// CONNECT host), ALPN http/1.1 only, within the tunnel's deadline. A new leaf waits for its
// client address's signing turn (signing-turns.ts). The decrypted socket goes back to the
// listener, which serves it like any other connection; a client that rejects our certificate is
// logged once per host, and at most one line per interval (a summary of the others).
import type { Duplex } from 'node:stream';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { Logger } from '../observe/log.js';
import { WarningSummary } from '../observe/log-summary.js';
import type { CertificateAuthority } from './ca.js';
import { serverNameOf } from './client-hello.js';
import { LeafContexts, normaliseHost } from './leaf-contexts.js';
import { compileGlobs } from '../policy/glob.js';
import { SigningTurns } from './signing-turns.js';

/** Without a deadline from the CONNECT (--headers-timeout 0), the handshake still gets this long. */
const HANDSHAKE_TIMEOUT_MS = 30_000;
/** Alerts a client sends when it does not accept our certificate (RFC 8446 §6.2). */
const CERTIFICATE_REJECTED = /ALERT_(BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|UNSUPPORTED_CERTIFICATE|CERTIFICATE_EXPIRED|CERTIFICATE_REVOKED|DECRYPT_ERROR|ACCESS_DENIED)/;
const MAX_WARNED_HOSTS = 10_000;

export interface InterceptorOptions {
  ca: CertificateAuthority;
  intercept: boolean | readonly string[];
  passthrough: readonly string[];
  now: () => number;
  logger: Logger;
}

export interface HandshakeOptions {
  /** The client's address: leaf signing is shared out between addresses. */
  client: string;
  /** Aborts when the handshake (signing included) must be over: the socket is then closed. */
  deadline?: AbortSignal;
  /** Called once when the deadline closed the socket (the caller logs it). */
  onTimeout?: () => void;
}

export class Interceptor {
  readonly leaves: LeafContexts;
  private readonly intercepted: (host: string) => boolean;
  private readonly passedThrough: (host: string) => boolean;
  private readonly warned = new Set<string>();
  private readonly turns = new SigningTurns();
  private readonly untrusted: WarningSummary;

  constructor(private readonly options: InterceptorOptions) {
    this.leaves = new LeafContexts({ ca: options.ca, now: options.now });
    this.untrusted = new WarningSummary(options.logger, {
      message: "clients rejected the proxy's certificate, or closed their TLS connection before a request, for more hosts",
      samplesField: 'hosts',
    });
    const { intercept, passthrough } = options;
    // Host globs (checked when the config was loaded), matched in linear time (policy/glob.ts).
    this.intercepted = intercept === true ? () => true : intercept === false ? () => false : compileGlobs(intercept, 'name');
    this.passedThrough = passthrough.length ? compileGlobs(passthrough, 'name') : () => false;
  }

  /** Is TLS to this CONNECT host ended here? (passthrough wins over intercept) */
  intercepts(host: string): boolean {
    const name = normaliseHost(host);
    return this.intercepted(name) && !this.passedThrough(name);
  }

  /**
   * Answer the client's TLS handshake, `hello` being the bytes already read from `socket` (the
   * socket is paused). `onSecure` gets the decrypted socket once the handshake is done.
   */
  terminate(socket: Duplex, hello: Buffer, connectHost: string, options: HandshakeOptions, onSecure: (tlsSocket: TLSSocket, name: string) => void): void {
    const name = serverNameOf(hello) ?? normaliseHost(connectHost);
    const deadline = options.deadline ?? AbortSignal.timeout(HANDSHAKE_TIMEOUT_MS);
    // The deadline runs from the CONNECT's 200, through the leaf's signing, to the handshake's end.
    const expire = () => {
      socket.destroy();
      handshaking.tlsSocket?.destroy();
      options.onTimeout?.();
    };
    const handshaking: { tlsSocket?: TLSSocket } = {};
    if (deadline.aborted) return expire();
    deadline.addEventListener('abort', expire, { once: true });
    const settled = () => deadline.removeEventListener('abort', expire);
    socket.once('close', settled);
    if (this.leaves.has(name)) return this.withLeaf(socket, hello, name, this.leaves.get(name), handshaking, settled, onSecure);
    this.turns.take(options.client, deadline).then(
      (release) => {
        if (socket.destroyed) return release();
        const context = this.leaves.get(name);
        if (context instanceof Promise) void context.finally(release).catch(() => {});
        else release();
        this.withLeaf(socket, hello, name, context, handshaking, settled, onSecure);
      },
      () => {}, // the deadline passed while it waited: expire() closed the socket
    );
  }

  private withLeaf(
    socket: Duplex,
    hello: Buffer,
    name: string,
    context: SecureContext | Promise<SecureContext>,
    handshaking: { tlsSocket?: TLSSocket },
    settled: () => void,
    onSecure: (tlsSocket: TLSSocket, name: string) => void,
  ): void {
    if (socket.destroyed) return;
    if (!(context instanceof Promise)) return this.handshake(socket, hello, name, context, handshaking, settled, onSecure);
    context.then(
      (ready) => this.handshake(socket, hello, name, ready, handshaking, settled, onSecure),
      (error: Error) => {
        this.options.logger.error('cannot make a leaf certificate', { host: name, error: error.message });
        socket.destroy();
      },
    );
  }

  private handshake(
    socket: Duplex,
    hello: Buffer,
    name: string,
    secureContext: SecureContext,
    handshaking: { tlsSocket?: TLSSocket },
    settled: () => void,
    onSecure: (tlsSocket: TLSSocket, name: string) => void,
  ): void {
    if (socket.destroyed) return;
    // A TLSSocket reads what is buffered on the socket it wraps before reading on (node's initRead).
    socket.unshift(hello);
    const tlsSocket = new TLSSocket(socket, { isServer: true, secureContext, ALPNProtocols: ['http/1.1'] });
    handshaking.tlsSocket = tlsSocket;
    const failed = (error: NodeJS.ErrnoException) => {
      this.handshakeFailed(name, error);
      tlsSocket.destroy();
    };
    // The socket allows half-open connections (node:http's do): a client that hangs up mid-handshake must be closed here.
    const ended = () => {
      this.closedUnused(name);
      tlsSocket.destroy();
    };
    tlsSocket.once('error', failed);
    tlsSocket.once('end', ended);
    tlsSocket.once('secure', () => {
      settled();
      tlsSocket.off('error', failed);
      tlsSocket.off('end', ended);
      onSecure(tlsSocket, name);
    });
  }

  /**
   * A client hung up during the handshake or before its first request: what clients that check
   * our certificate themselves (node, Go) do when they reject it, without sending an alert.
   */
  closedUnused(host: string): void {
    this.warnOnce(host, `a client closed its TLS connection for ${host} before sending a request: it may not trust the proxy's certificate`, 'closed-before-request');
  }

  private handshakeFailed(host: string, error: NodeJS.ErrnoException): void {
    const code = error.code ?? '';
    if (CERTIFICATE_REJECTED.test(code)) this.warnOnce(host, `a client rejected the proxy's certificate for ${host}`, code);
    else this.options.logger.debug('TLS handshake with a client failed', { host, error: code || error.message });
  }

  private warnOnce(host: string, message: string, error: string): void {
    if (this.warned.has(host)) return;
    if (this.warned.size >= MAX_WARNED_HOSTS) this.warned.clear();
    this.warned.add(host);
    const hint = 'make the client trust the CA (etag-proxy ca export > ca.pem), or add the host to --passthrough if the client pins certificates';
    this.untrusted.note(message, { host, error, hint }, host);
  }
}
