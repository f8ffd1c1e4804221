// The only importer of @peculiar/x509: builds the root CA certificate and the per-host leaf
// certificates, signed with Node's native WebCrypto (ECDSA P-256, SHA-256). Files, caching and
// TLS contexts are left to ca.ts, leaf-issuer.ts and contexts.ts.
// tsyringe, which @peculiar/x509 uses inside, needs the Reflect metadata polyfill loaded first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { isIP } from 'node:net';
import { randomBytes, webcrypto } from 'node:crypto';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const DAY_MS = 86_400_000;
/** ECDSA P-256: mitmproxy's and Squid's choice of leaf key too; signs in well under a millisecond. */
export const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export type Key = webcrypto.CryptoKey;
export type KeyPair = webcrypto.CryptoKeyPair;

export function generateKeyPair(): Promise<KeyPair> {
  return webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']) as Promise<KeyPair>;
}

/** A positive 128-bit serial (RFC 5280 §4.1.2.2: positive, at most 20 octets, unpredictable). */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes.toString('hex');
}

export interface CaCertificateOptions {
  commonName: string;
  now: number;
  validDays: number;
}

export async function createCaCertificate(keys: KeyPair, options: CaCertificateOptions): Promise<string> {
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: [{ CN: [options.commonName] }, { O: ['etag-proxy'] }],
    notBefore: new Date(options.now - DAY_MS),
    notAfter: new Date(options.now + options.validDays * DAY_MS),
    keys,
    signingAlgorithm: KEY_ALGORITHM,
    extensions: [
      // RFC 5280 §4.2.1.9: pathLen 0, the CA signs leaves only.
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return cert.toString('pem');
}

export interface SigningCa {
  certPem: string;
  privateKey: Key;
}

export interface LeafOptions {
  /** Host names become DNS SANs, IP addresses IP SANs (RFC 5280 §4.2.1.6). */
  hosts: readonly string[];
  /** The leaf's key, or its SubjectPublicKeyInfo (DER) exported once (spares an export per leaf). */
  publicKey: Key | ArrayBuffer;
  now: number;
  /** Leaves never outlive this (the CA's own notAfter). */
  notAfter: number;
  validDays: number;
}

// Parsed once per CA and its key identifier computed once: leaves are made on the first request to a host.
const prepared = new WeakMap<SigningCa, Promise<{ subject: string; authorityKeyId: x509.AuthorityKeyIdentifierExtension }>>();

function prepare(ca: SigningCa) {
  let ready = prepared.get(ca);
  if (!ready) {
    const caCert = new x509.X509Certificate(ca.certPem);
    ready = x509.AuthorityKeyIdentifierExtension.create(caCert, false).then((authorityKeyId) => ({ subject: caCert.subject, authorityKeyId }));
    prepared.set(ca, ready);
  }
  return ready;
}

export async function createLeafCertificate(ca: SigningCa, options: LeafOptions): Promise<string> {
  const caCert = await prepare(ca);
  const primary = options.hosts[0]!;
  const names = options.hosts.map((host) => (isIP(host) ? { type: 'ip' as const, value: host } : { type: 'dns' as const, value: host }));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    // CN is ignored by clients that follow RFC 6125 (they read the SANs), but some logs show it.
    subject: [{ CN: [primary.slice(0, 64)] }, { O: ['etag-proxy'] }],
    issuer: caCert.subject,
    // A day back: clients whose clock runs behind the proxy's still accept the leaf.
    notBefore: new Date(options.now - DAY_MS),
    notAfter: new Date(Math.min(options.now + options.validDays * DAY_MS, options.notAfter)),
    signingKey: ca.privateKey,
    publicKey: options.publicKey,
    signingAlgorithm: KEY_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names),
      caCert.authorityKeyId,
    ],
  });
  return cert.toString('pem');
}

export async function exportSpki(key: Key): Promise<ArrayBuffer> {
  return webcrypto.subtle.exportKey('spki', key);
}

export async function exportPrivateKeyPem(key: Key): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN PRIVATE KEY-----\n${lines.join('\n')}\n-----END PRIVATE KEY-----\n`;
}

/** A PKCS #8 PEM P-256 key (what exportPrivateKeyPem writes) as a signing key. */
export function importPrivateKeyPem(pem: string): Promise<Key> {
  const body = /-----BEGIN PRIVATE KEY-----([^-]+)-----END PRIVATE KEY-----/.exec(pem)?.[1];
  if (!body) throw new Error('not a PKCS #8 PEM private key');
  return webcrypto.subtle.importKey('pkcs8', Buffer.from(body.replace(/\s+/g, ''), 'base64'), KEY_ALGORITHM, false, ['sign']);
}
