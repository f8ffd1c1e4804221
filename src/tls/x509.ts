// The only importer of @peculiar/x509 (and its ASN.1 schemas): builds the root CA certificate and
// the per-host leaf certificates, signed with Node's native crypto (ECDSA P-256, SHA-256). Files, caching and
// TLS contexts are left to ca.ts, leaf-issuer.ts and contexts.ts.
// tsyringe, which @peculiar/x509 uses inside, needs the Reflect metadata polyfill loaded first.
import 'reflect-metadata';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import * as asn1X509 from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import { isIP } from 'node:net';
import { KeyObject, randomBytes, sign as signSync, webcrypto } from 'node:crypto';

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

/**
 * What every leaf of one CA shares, built once: issuer name, signature algorithm, the constant
 * extensions, the CA's key for node's synchronous signer. X509CertificateGenerator re-parses all
 * of these and the finished certificate on every call (about 4 ms a leaf, against 0.1 ms for the
 * signature itself); a leaf is made on the first request to each host, so it is built here from
 * the library's ASN.1 schemas (@peculiar/asn1-x509) instead.
 */
interface LeafTemplate {
  issuer: asn1X509.Name;
  signatureAlgorithm: asn1X509.AlgorithmIdentifier;
  constantExtensions: asn1X509.Extension[];
  signingKey: KeyObject;
  spki: Map<ArrayBuffer, asn1X509.SubjectPublicKeyInfo>;
}

const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2'; // RFC 5758 §3.2
const COMMON_NAME = '2.5.4.3';
const templates = new WeakMap<SigningCa, Promise<LeafTemplate>>();

function template(ca: SigningCa): Promise<LeafTemplate> {
  let ready = templates.get(ca);
  if (!ready) {
    ready = (async () => {
      const caCert = new x509.X509Certificate(ca.certPem);
      const extensions = [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        await x509.AuthorityKeyIdentifierExtension.create(caCert, false),
      ];
      return {
        issuer: AsnConvert.parse(caCert.subjectName.toArrayBuffer(), asn1X509.Name),
        signatureAlgorithm: new asn1X509.AlgorithmIdentifier({ algorithm: ECDSA_WITH_SHA256 }),
        constantExtensions: extensions.map((extension) => AsnConvert.parse(extension.rawData, asn1X509.Extension)),
        signingKey: KeyObject.from(ca.privateKey),
        spki: new Map(),
      };
    })();
    templates.set(ca, ready);
  }
  return ready;
}

const arrayBuffer = (bytes: Buffer): ArrayBuffer => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;

function subjectAltName(hosts: readonly string[]): asn1X509.Extension {
  const names = hosts.map((host) => new asn1X509.GeneralName(isIP(host) ? { iPAddress: host } : { dNSName: host }));
  return new asn1X509.Extension({
    extnID: asn1X509.id_ce_subjectAltName,
    critical: false,
    extnValue: new OctetString(AsnConvert.serialize(new asn1X509.SubjectAlternativeName(names))),
  });
}

export async function createLeafCertificate(ca: SigningCa, options: LeafOptions): Promise<string> {
  const base = await template(ca);
  const spkiDer = options.publicKey instanceof ArrayBuffer ? options.publicKey : await exportSpki(options.publicKey);
  let spki = base.spki.get(spkiDer);
  if (!spki) {
    spki = AsnConvert.parse(spkiDer, asn1X509.SubjectPublicKeyInfo);
    base.spki.set(spkiDer, spki);
  }
  const primary = options.hosts[0]!;
  const tbs = new asn1X509.TBSCertificate({
    version: asn1X509.Version.v3,
    serialNumber: arrayBuffer(Buffer.from(serialNumber(), 'hex')),
    signature: base.signatureAlgorithm,
    issuer: base.issuer,
    // A day back: clients whose clock runs behind the proxy's still accept the leaf.
    validity: new asn1X509.Validity({
      notBefore: new Date(options.now - DAY_MS),
      notAfter: new Date(Math.min(options.now + options.validDays * DAY_MS, options.notAfter)),
    }),
    // CN is ignored by clients that follow RFC 6125 (they read the SANs), but some logs show it.
    subject: new asn1X509.Name([
      new asn1X509.RelativeDistinguishedName([new asn1X509.AttributeTypeAndValue({ type: COMMON_NAME, value: new asn1X509.AttributeValue({ utf8String: primary.slice(0, 64) }) })]),
    ]),
    subjectPublicKeyInfo: spki,
    extensions: new asn1X509.Extensions([...base.constantExtensions, subjectAltName(options.hosts)]),
  });
  const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
  // RFC 5480 §2.2: ECDSA signatures in certificates are DER Ecdsa-Sig-Value, node's 'der' encoding.
  const signatureValue = signSync('sha256', tbsDer, { key: base.signingKey, dsaEncoding: 'der' });
  const cert = new asn1X509.Certificate({ tbsCertificate: tbs, signatureAlgorithm: base.signatureAlgorithm, signatureValue: arrayBuffer(signatureValue) });
  const der = Buffer.from(AsnConvert.serialize(cert)).toString('base64');
  return `-----BEGIN CERTIFICATE-----\n${der.match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
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
