// Who may use the proxy and where it may connect (STYLE.md invariant 3): client addresses
// (--allow), CONNECT ports (--connect-ports), destinations checked on the *resolved* address
// (so a DNS name pointing at 127.0.0.1 is caught), and never this process's own listeners.
// Squid's defaults are the anchor: CONNECT to SSL ports only, no relay into the local network.
import dns from 'node:dns';
import net from 'node:net';
import { ProxyError } from '../errors.js';
import { blockListOf, inList, isLoopbackHost, isThisHost, rangeKind, type Cidr } from './address-ranges.js';

export type PortRange = readonly [from: number, to: number];

export interface GuardConfig {
  /** Client addresses that may use the proxy; empty: everyone who can connect. */
  allowClients: readonly Cidr[];
  /** Ports CONNECT may reach. */
  connectPorts: readonly PortRange[];
  /** Refuse loopback, private, link-local, unique-local and this host's addresses (auto: when listening beyond loopback). */
  restrictDestinations: 'auto' | 'yes' | 'no';
  /** Exceptions to restrictDestinations. */
  allowDestinations: readonly Cidr[];
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;
type Lookup = (hostname: string, options: dns.LookupOptions, callback: LookupCallback) => void;

/** Thrown (or passed to a socket's lookup callback) when a destination is refused: a 403. */
export class DestinationForbidden extends ProxyError {
  constructor(message: string) {
    super(403, 'destination_forbidden', message);
  }
}

export class Guard {
  private readonly clients: net.BlockList | null;
  private readonly allowedDestinations: net.BlockList;
  /** Ports this process listens on (proxy, admin); filled in as listeners start. */
  private readonly ownPorts = new Set<number>();
  private readonly verdicts = new WeakMap<net.Socket, ProxyError | null>();
  private readonly lookups = new Map<number, Lookup>();
  private restrict: boolean;

  constructor(private readonly config: GuardConfig) {
    this.clients = config.allowClients.length ? blockListOf(config.allowClients) : null;
    this.allowedDestinations = blockListOf(config.allowDestinations);
    this.restrict = config.restrictDestinations === 'yes';
  }

  /** A listener of this process (proxy or admin) started: it is never a destination. */
  addOwnListener(port: number): void {
    this.ownPorts.add(port);
  }

  /** The proxy listens on `host`: beyond loopback, `auto` restricts destinations. */
  proxyListening(host: string, port: number): void {
    this.addOwnListener(port);
    if (this.config.restrictDestinations === 'auto' && !isLoopbackHost(host)) this.restrict = true;
  }

  get restrictsDestinations(): boolean {
    return this.restrict;
  }

  /** --allow: null when this connection's client may use the proxy (decided once per socket). */
  clientRefusal(socket: net.Socket): ProxyError | null {
    if (!this.clients) return null;
    let verdict = this.verdicts.get(socket);
    if (verdict === undefined) {
      const address = socket.remoteAddress ?? '';
      verdict = inList(this.clients, address) ? null : new ProxyError(403, 'client_forbidden', `client address ${address} is not in --allow`);
      this.verdicts.set(socket, verdict);
    }
    return verdict;
  }

  /** A connection this process opened to itself (observe/internal-client.ts): --allow is for clients, not for it. */
  admitInternal(socket: object): void {
    this.verdicts.set(socket as net.Socket, null);
  }

  /** PURGE (--purge): from an --allow address, or from loopback when there is no --allow list. */
  mayPurge(socket: net.Socket): boolean {
    const address = socket.remoteAddress ?? '';
    return this.clients ? inList(this.clients, address) : isLoopbackHost(address);
  }

  /** Is `port` in --connect-ports (where a byte-for-byte tunnel may go)? */
  listsConnectPort(port: number): boolean {
    return this.config.connectPorts.some(([from, to]) => port >= from && port <= to);
  }

  /** The refusal of a byte-for-byte tunnel to a port outside --connect-ports (`what`: how it was seen). */
  connectPortRefusal(port: number, what = `CONNECT to port ${port} is not allowed`): DestinationForbidden {
    const allowed = this.config.connectPorts.map(([from, to]) => (from === to ? String(from) : `${from}-${to}`)).join(',');
    return new DestinationForbidden(`${what} (--connect-ports ${allowed})`);
  }

  checkConnectPort(port: number): void {
    if (!this.listsConnectPort(port)) throw this.connectPortRefusal(port);
  }

  /**
   * For a tunnel answered before any origin connection (intercepted, or one whose HTTP contents
   * are served here): resolve a name now and throw when none of its addresses may be reached.
   * With `scope` 'own-listeners' only this process's listeners are checked, and a name that does
   * not resolve passes (the requests inside the tunnel meet the other rules, and that error).
   */
  async checkTunnelName(host: string, port: number, scope: 'own-listeners' | 'all'): Promise<void> {
    const bare = host.replace(/^\[|\]$/g, '');
    if (net.isIP(bare)) return; // literals: checkLiteral
    if (scope === 'own-listeners') {
      if (!this.ownPorts.has(port)) return;
      const addresses = await dns.promises.lookup(bare, { all: true }).catch(() => []);
      const own = addresses.length > 0 && addresses.every((entry) => isThisHost(entry.address));
      if (own) throw this.ownListenerRefusal(`${host}:${port}`);
      return;
    }
    const lookup = this.lookupFor(port);
    await new Promise<void>((resolve, reject) => lookup(bare, { all: true }, (error) => (error ? reject(error) : resolve())));
  }

  private ownListenerRefusal(authority: string): DestinationForbidden {
    return new DestinationForbidden(`${authority} is this proxy's own listener`);
  }

  /** Why `address:port` may not be reached, or null when it may. */
  refusal(address: string, port: number): DestinationForbidden | null {
    if (this.ownPorts.has(port) && isThisHost(address)) return this.ownListenerRefusal(hostPort(address, port));
    if (!this.restrict || inList(this.allowedDestinations, address)) return null;
    const kind = rangeKind(address) ?? (isThisHost(address) ? 'this-host' : null);
    if (!kind) return null;
    return new DestinationForbidden(`${hostPort(address, port)} is a ${kind} address; list it in --allow-destinations to reach it`);
  }

  /** A `lookup` for net/http that resolves as usual, then drops refused addresses. */
  lookupFor(port: number): Lookup {
    let lookup = this.lookups.get(port);
    if (!lookup) {
      lookup = this.makeLookup(port);
      this.lookups.set(port, lookup);
    }
    return lookup;
  }

  private makeLookup(port: number): Lookup {
    return (hostname, options, callback) => {
      dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
        if (error) return callback(error, options.all ? [] : '');
        let refused: DestinationForbidden | null = null;
        const allowed = addresses.filter((entry) => {
          const why = this.refusal(entry.address, port);
          refused ??= why;
          return !why;
        });
        if (!allowed.length) return callback(refused ?? Object.assign(new Error(`${hostname} did not resolve`), { code: 'ENOTFOUND' }), options.all ? [] : '');
        if (options.all) return callback(null, allowed);
        callback(null, allowed[0]!.address, allowed[0]!.family);
      });
    };
  }

  /** For a literal IP target (node skips lookup for those): throws when it is refused. */
  checkLiteral(host: string, port: number): void {
    // Brackets only around an IPv6 literal: other hosts skip the regular expression (once per request).
    const bare = host.charCodeAt(0) === 0x5b || host.endsWith(']') ? host.replace(/^\[|\]$/g, '') : host;
    if (!net.isIP(bare)) return;
    const why = this.refusal(bare, port);
    if (why) throw why;
  }
}

function hostPort(address: string, port: number): string {
  return net.isIPv6(address) ? `[${address}]:${port}` : `${address}:${port}`;
}
