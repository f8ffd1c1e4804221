// TLS material made in the test, never committed: the proxy's CA (in a temporary directory, as
// `etag-proxy ca init` makes it) and a separate test CA that signs the HTTPS origins' certificates.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initCa, loadCa, type CertificateAuthority } from '../../src/tls/ca.js';
import { createLeafCertificate, exportPrivateKeyPem, generateKeyPair } from '../../src/tls/x509.js';

export interface TestCa {
  dir: string;
  /** The CA certificate file (PEM), for --upstream-ca or a client's trust store. */
  certFile: string;
  ca: CertificateAuthority;
  /** A key and certificate for an origin, with these host names / IPs as SANs. */
  issue(hosts: string[], options?: { notAfter?: number; now?: number }): Promise<{ key: string; cert: string }>;
  remove(): void;
}

export async function makeTestCa(label: string): Promise<TestCa> {
  const dir = mkdtempSync(join(tmpdir(), `etag-proxy-${label}-`));
  await initCa(dir);
  const ca = await loadCa(dir);
  const certFile = join(dir, 'ca.pem');
  return {
    dir,
    certFile,
    ca,
    async issue(hosts, options = {}) {
      const keys = await generateKeyPair();
      const now = options.now ?? Date.now();
      const cert = await createLeafCertificate(ca.signing, { hosts, publicKey: keys.publicKey, now, notAfter: options.notAfter ?? ca.notAfter, validDays: 30 });
      return { key: await exportPrivateKeyPem(keys.privateKey), cert };
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export function writeTemp(dir: string, name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}
