// Special-purpose address ranges (RFC 6890 and the registries it created): what "loopback",
// "private" and "this host" mean for the destination and client rules in guard.ts. One table,
// each row with its source, so the docs (docs/operations.md) and the code agree.
import net from 'node:net';
import os from 'node:os';

export type RangeKind = 'loopback' | 'unspecified' | 'private' | 'shared' | 'link-local' | 'unique-local';

export const SPECIAL_RANGES: ReadonlyArray<{ cidr: string; kind: RangeKind; source: string }> = [
  { cidr: '127.0.0.0/8', kind: 'loopback', source: 'RFC 1122 §3.2.1.3' },
  { cidr: '::1/128', kind: 'loopback', source: 'RFC 4291 §2.5.3' },
  { cidr: '0.0.0.0/8', kind: 'unspecified', source: 'RFC 1122 §3.2.1.3 (0.0.0.0 reaches this host on Linux)' },
  { cidr: '::/128', kind: 'unspecified', source: 'RFC 4291 §2.5.2' },
  { cidr: '10.0.0.0/8', kind: 'private', source: 'RFC 1918' },
  { cidr: '172.16.0.0/12', kind: 'private', source: 'RFC 1918' },
  { cidr: '192.168.0.0/16', kind: 'private', source: 'RFC 1918' },
  { cidr: '100.64.0.0/10', kind: 'shared', source: 'RFC 6598 (carrier-grade NAT)' },
  { cidr: '169.254.0.0/16', kind: 'link-local', source: 'RFC 3927 (cloud metadata at 169.254.169.254)' },
  { cidr: 'fe80::/10', kind: 'link-local', source: 'RFC 4291 §2.5.6' },
  { cidr: 'fc00::/7', kind: 'unique-local', source: 'RFC 4193' },
];

export interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** "10.0.0.0/8", "fd00::/8" or a single address; null when it is not one. */
export function parseCidr(text: string): Cidr | null {
  const [address = '', prefixText, extra] = text.trim().split('/');
  if (extra !== undefined) return null;
  const bare = address.replace(/^\[|\]$/g, '');
  const version = net.isIP(bare);
  if (!version) return null;
  const max = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix >= 0 && prefix <= max)) return null;
  return { address: bare, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

export function blockListOf(cidrs: readonly Cidr[]): net.BlockList {
  const list = new net.BlockList();
  for (const { address, prefix, family } of cidrs) list.addSubnet(address, prefix, family);
  return list;
}

/** BlockList.check with the family worked out; IPv4-mapped IPv6 matches IPv4 rows (node does that). */
export function inList(list: net.BlockList, address: string): boolean {
  const version = net.isIP(address);
  return version !== 0 && list.check(address, version === 4 ? 'ipv4' : 'ipv6');
}

const SPECIAL: ReadonlyMap<RangeKind, net.BlockList> = new Map(
  (['loopback', 'unspecified', 'private', 'shared', 'link-local', 'unique-local'] as const).map((kind) => [
    kind,
    blockListOf(SPECIAL_RANGES.filter((row) => row.kind === kind).map((row) => parseCidr(row.cidr)!)),
  ]),
);

/** Which special range an address is in, if any. */
export function rangeKind(address: string): RangeKind | null {
  for (const [kind, list] of SPECIAL) if (inList(list, address)) return kind;
  return null;
}

export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  return bare === 'localhost' || rangeKind(bare) === 'loopback';
}

// Interface addresses change rarely (DHCP, VPNs); reading them costs a system call, so once
// every few seconds is enough to keep "this host" current.
let interfaces: { at: number; list: net.BlockList } | undefined;
const INTERFACES_TTL_MS = 5000;

/** Addresses of this host's network interfaces (any family). */
export function isInterfaceAddress(address: string): boolean {
  const at = Date.now();
  if (!interfaces || at - interfaces.at > INTERFACES_TTL_MS) {
    const cidrs: Cidr[] = [];
    for (const entries of Object.values(os.networkInterfaces())) {
      for (const entry of entries ?? []) {
        const cidr = parseCidr(entry.address.replace(/%.*$/, ''));
        if (cidr) cidrs.push(cidr);
      }
    }
    interfaces = { at, list: blockListOf(cidrs) };
  }
  return inList(interfaces.list, address);
}

/** An address that reaches this very host: loopback, unspecified, or one of its interfaces. */
export function isThisHost(address: string): boolean {
  const kind = rangeKind(address);
  return kind === 'loopback' || kind === 'unspecified' || isInterfaceAddress(address);
}
