// guard/: CIDR and port lists from flags or files, the special address ranges, and the
// destination verdicts (own listeners always; private ranges only when restricted).
import { describe, expect, it } from 'vitest';
import { parseCidrList, parsePortList } from '../../src/config/schema.js';
import { isLoopbackHost, rangeKind } from '../../src/guard/address-ranges.js';
import { Guard } from '../../src/guard/guard.js';

describe('parseCidrList / parsePortList', () => {
  it('reads comma-separated strings, repeated flags and YAML lists', () => {
    expect(parseCidrList('--allow', '10.0.0.0/8, 192.168.1.7').map((c) => `${c.address}/${c.prefix}`)).toEqual(['10.0.0.0/8', '192.168.1.7/32']);
    expect(parseCidrList('allow', ['fd00::/8', '[::1]']).map((c) => `${c.address}/${c.prefix}`)).toEqual(['fd00::/8', '::1/128']);
    expect(parsePortList('--connect-ports', '443,80,8000-8100')).toEqual([[443, 443], [80, 80], [8000, 8100]]);
    expect(parsePortList('connectPorts', [443, '8443'])).toEqual([[443, 443], [8443, 8443]]);
  });

  it('names the flag and the bad item', () => {
    expect(() => parseCidrList('--allow', '10.0.0.0/33')).toThrow('--allow: expected CIDR ranges or addresses such as 10.0.0.0/8,192.168.1.7,fd00::/8, got "10.0.0.0/33"');
    expect(() => parseCidrList('--allow', 'example.com')).toThrow(/got "example.com"$/);
    expect(() => parsePortList('--connect-ports', '443,0')).toThrow('--connect-ports: expected ports or ranges such as 443,80,8000-8100, got "0"');
    expect(() => parsePortList('--connect-ports', '90-80')).toThrow(/got "90-80"$/);
    expect(() => parsePortList('--connect-ports', '')).toThrow(/^--connect-ports: expected/);
  });
});

describe('address ranges (RFC 6890)', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['10.1.2.3', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.0.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fd12::1', 'unique-local'],
    ['100.64.0.1', 'shared'],
    ['93.184.216.34', null],
    ['172.32.0.1', null],
    ['2606:4700::1', null],
  ])('%s is %s', (address, kind) => {
    expect(rangeKind(address)).toBe(kind);
  });

  it('knows which listen addresses are loopback', () => {
    expect(['127.0.0.1', 'localhost', '::1', '[::1]'].every(isLoopbackHost)).toBe(true);
    expect(['0.0.0.0', '::', '10.0.0.5'].some(isLoopbackHost)).toBe(false);
  });
});

describe('Guard', () => {
  const config = { allowClients: [], connectPorts: [[443, 443]] as Array<[number, number]>, allowDestinations: [] };

  it('refuses its own listener ports on any address of this host, and nothing else unless restricted', () => {
    const guard = new Guard({ ...config, restrictDestinations: 'auto' });
    guard.proxyListening('127.0.0.1', 8080);
    guard.addOwnListener(8081);
    expect(guard.refusal('127.0.0.1', 8081)?.status).toBe(403);
    expect(guard.refusal('::ffff:127.0.0.1', 8080)?.message).toMatch(/own listener/);
    expect(guard.refusal('0.0.0.0', 8080)).not.toBeNull();
    expect(guard.refusal('127.0.0.1', 9000)).toBeNull();
    expect(guard.refusal('93.184.216.34', 8081)).toBeNull();
    expect(guard.restrictsDestinations).toBe(false);
  });

  it('restricts once the proxy listens beyond loopback (auto), except for --allow-destinations', () => {
    const guard = new Guard({ ...config, restrictDestinations: 'auto', allowDestinations: [{ address: '10.9.0.0', prefix: 16, family: 'ipv4' }] });
    guard.proxyListening('0.0.0.0', 8080);
    expect(guard.restrictsDestinations).toBe(true);
    expect(guard.refusal('10.1.2.3', 80)?.message).toBe('10.1.2.3:80 is a private address; list it in --allow-destinations to reach it');
    expect(guard.refusal('10.9.1.1', 80)).toBeNull();
    expect(guard.refusal('93.184.216.34', 80)).toBeNull();
  });

  it('never restricts with --restrict-destinations no, and always with yes', () => {
    const never = new Guard({ ...config, restrictDestinations: 'no' });
    never.proxyListening('0.0.0.0', 8080);
    expect(never.refusal('10.1.2.3', 80)).toBeNull();
    expect(new Guard({ ...config, restrictDestinations: 'yes' }).refusal('127.0.0.1', 80)).not.toBeNull();
  });

  it('checks CONNECT ports against the list', () => {
    const guard = new Guard({ ...config, restrictDestinations: 'no' });
    expect(() => guard.checkConnectPort(443)).not.toThrow();
    expect(() => guard.checkConnectPort(6379)).toThrow('CONNECT to port 6379 is not allowed (--connect-ports 443)');
  });
});
