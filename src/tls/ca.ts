// The proxy's root CA on disk: create it (`etag-proxy ca init`), load it at start, describe it.
// The key file is 0600 in a 0700 directory under the user's config dir; it is read here and
// nowhere else, imported as a non-extractable key, and never logged or sent to a store.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';
import type { Key, SigningCa } from './x509.js';

// The X.509 library costs ~13 MiB of RSS: loaded only when a CA is made or loaded (--intercept),
// not in every proxy and CLI run (issue 7's memory budget).
const x509 = () => import('./x509.js');

export const CA_CERT_FILE = 'ca.pem';
export const CA_KEY_FILE = 'ca-key.pem';
const CA_VALID_DAYS = 3650;

/** A user-facing CA problem: one line, naming the file or directory and the command that fixes it. */
export class CaError extends Error {
  override name = 'CaError';
}

export interface CertificateAuthority {
  dir: string;
  certPem: string;
  signing: SigningCa;
  /** Leaves never outlive the CA. */
  notAfter: number;
}

export interface CaDescription {
  subject: string;
  fingerprint256: string;
  notBefore: string;
  notAfter: string;
  certFile: string;
}

/** $XDG_CONFIG_HOME/etag-proxy/ca, or ~/.config/etag-proxy/ca (never the working directory). */
export function defaultCaDir(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  const base = env['XDG_CONFIG_HOME'] || join(home, '.config');
  return join(base, 'etag-proxy', 'ca');
}

export async function initCa(dir: string, options: { force?: boolean; now?: number } = {}): Promise<CaDescription> {
  const certFile = join(dir, CA_CERT_FILE);
  const keyFile = join(dir, CA_KEY_FILE);
  if (!options.force && (existsSync(certFile) || existsSync(keyFile))) {
    throw new CaError(`a CA already exists in ${dir}; keep it, or replace it with \`etag-proxy ca init --force\` (clients must then trust the new one)`);
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const { createCaCertificate, exportPrivateKeyPem, generateKeyPair } = await x509();
  const keys = await generateKeyPair();
  const now = options.now ?? Date.now();
  const certPem = await createCaCertificate(keys, { commonName: `etag-proxy CA ${hostname()} ${new Date(now).toISOString().slice(0, 10)}`, now, validDays: CA_VALID_DAYS });
  // Written beside and renamed: a crash never leaves half a key, and the mode is set at creation.
  const keyTmp = `${keyFile}.${process.pid}.tmp`;
  await writeFile(keyTmp, await exportPrivateKeyPem(keys.privateKey), { mode: 0o600, flag: 'wx' });
  try {
    await chmod(keyTmp, 0o600);
    await rename(keyTmp, keyFile);
  } catch (error) {
    await rm(keyTmp, { force: true });
    throw error;
  }
  await writeFile(certFile, certPem, { mode: 0o644 });
  return describeCa(certPem, certFile);
}

export async function loadCa(dir: string): Promise<CertificateAuthority> {
  const certFile = join(dir, CA_CERT_FILE);
  const keyFile = join(dir, CA_KEY_FILE);
  if (!existsSync(certFile) || !existsSync(keyFile)) {
    throw new CaError(`no CA in ${dir}; create one with \`etag-proxy ca init${dir === defaultCaDir() ? '' : ` --ca-dir ${dir}`}\``);
  }
  const certPem = await readCaFile(certFile);
  const keyPem = await readCaFile(keyFile);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    throw new CaError(`${certFile} is not a PEM certificate`);
  }
  let privateKey: Key;
  try {
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) throw new CaError(`${keyFile} is not the key of ${certFile}`);
    privateKey = await (await x509()).importPrivateKeyPem(keyPem);
  } catch (error) {
    // Never the key's text in a message: only which file and what kind of problem.
    if (error instanceof CaError) throw error;
    throw new CaError(`${keyFile} is not a PKCS #8 ECDSA P-256 key (made by \`etag-proxy ca init\`)`);
  }
  if (!cert.ca) throw new CaError(`${certFile} is not a CA certificate (basicConstraints CA:TRUE)`);
  return { dir, certPem, signing: { certPem, privateKey }, notAfter: Date.parse(cert.validTo) };
}

export async function readCaCertificate(dir: string): Promise<{ certPem: string; certFile: string }> {
  const certFile = join(dir, CA_CERT_FILE);
  if (!existsSync(certFile)) throw new CaError(`no CA in ${dir}; create one with \`etag-proxy ca init${dir === defaultCaDir() ? '' : ` --ca-dir ${dir}`}\``);
  return { certPem: await readCaFile(certFile), certFile };
}

export function describeCa(certPem: string, certFile: string): CaDescription {
  const cert = new X509Certificate(certPem);
  return {
    subject: cert.subject.replace(/\n/g, ', '),
    fingerprint256: cert.fingerprint256,
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: new Date(cert.validTo).toISOString(),
    certFile,
  };
}

async function readCaFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new CaError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}
