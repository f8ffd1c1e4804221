// The proxy's CA and its leaf certificates: `etag-proxy ca init|export|info` as users run it
// (key 0600, directory 0700, no silent overwrite), and leaves with the right SANs (DNS names and
// IP addresses, RFC 5280 §4.2.1.6), validity, issuer and one key per process.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CA_CERT_FILE, CA_KEY_FILE, defaultCaDir, initCa, loadCa, type CertificateAuthority } from '../../src/tls/ca.js';
import { LeafContexts } from '../../src/tls/leaf-contexts.js';
import { runCli } from '../helpers/cli.js';

const DAY = 86_400_000;
let tmp: string;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'etag-proxy-ca-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('etag-proxy ca', () => {
  it('init creates the key file 0600 in a directory 0700, and export prints the certificate it wrote', async () => {
    const dir = join(tmp, 'cli', 'ca');
    const init = await runCli(['ca', 'init', '--ca-dir', dir]);
    expect(init.stderr).toBe('');
    expect(init.code).toBe(0);
    expect(statSync(join(dir, CA_KEY_FILE)).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);

    const exported = await runCli(['ca', 'export', '--ca-dir', dir]);
    expect(exported.code).toBe(0);
    expect(exported.stdout).toBe(readFileSync(join(dir, CA_CERT_FILE), 'utf8'));
    expect(exported.stdout).toMatch(/^-----BEGIN CERTIFICATE-----\n/);
    expect(exported.stdout).not.toContain('PRIVATE KEY');
    expect(new X509Certificate(exported.stdout).ca).toBe(true);

    const info = await runCli(['ca', 'info', '--ca-dir', dir]);
    const cert = new X509Certificate(exported.stdout);
    expect(info.code).toBe(0);
    expect(info.stdout).toContain(`sha256:      ${cert.fingerprint256}`);
    expect(info.stdout).toMatch(/subject: +CN=etag-proxy CA/);
    expect(info.stdout).toMatch(/not after: +20\d\d-/);
  });

  it('init refuses to replace an existing CA without --force, and replaces it with --force', async () => {
    const dir = join(tmp, 'force');
    expect((await runCli(['ca', 'init', '--ca-dir', dir])).code).toBe(0);
    const before = readFileSync(join(dir, CA_CERT_FILE), 'utf8');

    const again = await runCli(['ca', 'init', '--ca-dir', dir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^etag-proxy ca: a CA already exists in .*--force/);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);
    expect(readFileSync(join(dir, CA_CERT_FILE), 'utf8')).toBe(before);

    const forced = await runCli(['ca', 'init', '--ca-dir', dir, '--force']);
    expect(forced.code).toBe(0);
    expect(readFileSync(join(dir, CA_CERT_FILE), 'utf8')).not.toBe(before);
    expect(statSync(join(dir, CA_KEY_FILE)).mode & 0o777).toBe(0o600);
  });

  it('defaults to $XDG_CONFIG_HOME/etag-proxy/ca (else ~/.config/etag-proxy/ca), never the working directory', async () => {
    expect(defaultCaDir({ XDG_CONFIG_HOME: '/x/conf' }, '/home/u')).toBe('/x/conf/etag-proxy/ca');
    expect(defaultCaDir({}, '/home/u')).toBe('/home/u/.config/etag-proxy/ca');

    const xdg = join(tmp, 'xdg');
    const init = await runCli(['ca', 'init'], { XDG_CONFIG_HOME: xdg });
    expect(init.code).toBe(0);
    expect(statSync(join(xdg, 'etag-proxy', 'ca', CA_KEY_FILE)).mode & 0o777).toBe(0o600);
  });

  it('serve --intercept without a CA exits 2 with one line naming the command that creates one', async () => {
    const res = await runCli(['--intercept', '--port', '0', '--ca-dir', join(tmp, 'absent')]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/^etag-proxy: --intercept: no CA in .*absent; create one with `etag-proxy ca init --ca-dir .*absent`\n$/);
  });

  it('export without a CA says which command creates one, in one line, exit code 1', async () => {
    const res = await runCli(['ca', 'export', '--ca-dir', join(tmp, 'none')]);
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(res.stderr).toMatch(/^etag-proxy ca: no CA in .*none; create one with `etag-proxy ca init --ca-dir .*none`\n$/);
  });
});

describe('leaf certificates', () => {
  let ca: CertificateAuthority;
  let caCert: X509Certificate;
  const now = Date.parse('2030-06-01T12:00:00Z');

  beforeAll(async () => {
    const dir = join(tmp, 'leaves');
    await initCa(dir, { now: now - 30 * DAY });
    ca = await loadCa(dir);
    caCert = new X509Certificate(ca.certPem);
  });

  it('carries the host name as a DNS SAN, is issued and signed by the CA, and serves TLS only (serverAuth)', async () => {
    const leaves = new LeafContexts({ ca, now: () => now });
    const leaf = new X509Certificate(await leaves.issue('Shop.Example.COM'));

    expect(leaf.subjectAltName).toBe('DNS:shop.example.com');
    expect(leaf.checkIssued(caCert)).toBe(true);
    expect(leaf.verify(caCert.publicKey)).toBe(true);
    expect(leaf.ca).toBe(false);
    expect(leaf.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(leaf.checkHost('shop.example.com')).toBe('shop.example.com');
  });

  it('carries IPv4 and IPv6 addresses as IP SANs, not DNS names', async () => {
    const leaves = new LeafContexts({ ca, now: () => now });
    const v4 = new X509Certificate(await leaves.issue('127.0.0.1'));
    const v6 = new X509Certificate(await leaves.issue('[::1]'));

    expect(v4.subjectAltName).toBe('IP Address:127.0.0.1');
    expect(v4.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(v6.subjectAltName).toBe('IP Address:0:0:0:0:0:0:0:1');
    expect(v6.checkIP('::1')).toBe('::1');
  });

  it('is valid from a day before now for at most a year', async () => {
    const leaves = new LeafContexts({ ca, now: () => now });
    const leaf = new X509Certificate(await leaves.issue('example.com'));

    expect(Date.parse(leaf.validFrom)).toBe(Math.floor((now - DAY) / 1000) * 1000);
    expect(Date.parse(leaf.validTo) - now).toBeLessThanOrEqual(365 * DAY);
    expect(Date.parse(leaf.validTo) - now).toBeGreaterThan(300 * DAY);
  });

  it('uses one ECDSA P-256 key for every leaf of a process, and a fresh serial for each', async () => {
    const leaves = new LeafContexts({ ca, now: () => now });
    const a = new X509Certificate(await leaves.issue('a.example'));
    const b = new X509Certificate(await leaves.issue('b.example'));

    expect(a.publicKey.export({ format: 'der', type: 'spki' }).equals(b.publicKey.export({ format: 'der', type: 'spki' }))).toBe(true);
    expect(a.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(a.serialNumber).not.toBe(b.serialNumber);
  });

  it('keeps ready TLS contexts, least recently used dropped past the bound, and signs once for concurrent first requests', async () => {
    const leaves = new LeafContexts({ ca, now: () => now, maxEntries: 2 });
    const [first, second] = await Promise.all([leaves.get('one.example'), leaves.get('one.example')]);
    expect(first).toBe(second);
    expect(leaves.get('one.example')).toBe(first); // synchronous once ready

    await leaves.get('two.example');
    void leaves.get('one.example'); // now the most recently used
    await leaves.get('three.example');
    expect(leaves.size).toBe(2);
    expect(leaves.get('one.example')).toBe(first);
    expect(leaves.get('two.example')).toBeInstanceOf(Promise);
  });
});
