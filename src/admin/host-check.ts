// Who may talk to the admin API: only requests whose Host names the admin listener itself
// (DNS-rebinding protection: a web page on evil.example resolving to 127.0.0.1 still sends
// Host: evil.example), and never a listener off loopback without a token. The token check
// itself is admin-server.ts's.
import net from 'node:net';
import os from 'node:os';
import { ConfigError } from '../errors.js';

const LOOPBACK = new net.BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];
const WILDCARDS = new Set(['0.0.0.0', '[::]']);

/** A Host value's name, normalised as a URL would (lower case, IPv6 bracketed, IPv4 forms decimal). */
function normalise(name: string): string | undefined {
  try {
    return new URL(`http://${name}/`).hostname;
  } catch {
    return undefined;
  }
}

/** True for 127.0.0.0/8, ::1 (also IPv4-mapped) and localhost: an address only this host reaches. */
export function isLoopbackHost(host: string): boolean {
  const name = normalise(host.includes(':') && !host.startsWith('[') ? `[${host}]` : host);
  if (name === undefined) return false;
  if (name === 'localhost') return true;
  const bare = name.replace(/^\[|\]$/g, '');
  const family = net.isIP(bare);
  return family !== 0 && LOOPBACK.check(bare, family === 4 ? 'ipv4' : 'ipv6');
}

/** The admin API off loopback without a token would hand the proxy's policies to its network. */
export function requireTokenOffLoopback(admin: { host: string; token?: string | undefined }): void {
  if (admin.token !== undefined || isLoopbackHost(admin.host)) return;
  throw new ConfigError(
    `--admin-host: ${admin.host} is not a loopback address, so the admin API needs a token there: give --admin-token (or ETAG_PROXY_ADMIN_TOKEN), or keep --admin-host 127.0.0.1`,
  );
}

export class AdminHostCheck {
  private readonly names: Set<string>;
  private readonly wildcard: boolean;

  /** `configured` is --admin-host; `bound` the address the listener got. */
  constructor(configured: string, bound: string, private readonly port: number) {
    const names = [configured, bound].map((h) => normalise(net.isIPv6(h) ? `[${h}]` : h)).filter((h): h is string => h !== undefined);
    this.wildcard = names.some((name) => WILDCARDS.has(name));
    if (this.wildcard || names.some(isLoopbackHost)) names.push(...LOOPBACK_NAMES);
    this.names = new Set(names.filter((name) => !WILDCARDS.has(name)));
  }

  /** The names a client may use, for error messages. */
  get expected(): string[] {
    return [...this.names].map((name) => `${name}:${this.port}`);
  }

  /** Does this Host field name the admin listener (name and port)? */
  accepts(hostField: string | undefined): boolean {
    const match = /^(\[[0-9a-f:.]+\]|[^\s:/?#@[\]\\]+)(?::(\d{1,5}))?$/i.exec(hostField ?? '');
    if (!match) return false;
    if ((match[2] === undefined ? 80 : Number(match[2])) !== this.port) return false;
    const name = normalise(match[1]!);
    if (name === undefined) return false;
    if (this.names.has(name)) return true;
    // A wildcard listener is reached by every address of this host; interfaces can change at run time.
    return this.wildcard && interfaceAddresses().has(name);
  }
}

function interfaceAddresses(): Set<string> {
  const addresses = new Set<string>();
  for (const list of Object.values(os.networkInterfaces())) {
    for (const entry of list ?? []) addresses.add(entry.family === 'IPv6' ? `[${entry.address.replace(/%.*$/, '')}]` : entry.address);
  }
  return addresses;
}
