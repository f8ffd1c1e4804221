// Leaf certificates per host name, signed by the CA on first use, with one ECDSA P-256 key per
// process reused for every leaf (as mitmproxy and Squid do: key generation is the slow part),
// kept as ready tls.SecureContexts in a small LRU. Concurrent first requests share one signing.
import { createSecureContext, type SecureContext } from 'node:tls';
import type { CertificateAuthority } from './ca.js';
import { createLeafCertificate, exportPrivateKeyPem, exportSpki, generateKeyPair } from './x509.js';

const LEAF_VALID_DAYS = 365;

export interface LeafContextsOptions {
  ca: CertificateAuthority;
  now: () => number;
  /** Ready contexts kept (least recently used dropped past it). */
  maxEntries?: number;
}

/** `Example.COM.` → `example.com`; `[::1]` → `::1`. */
export function normaliseHost(host: string): string {
  return host.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();
}

export class LeafContexts {
  private readonly ready = new Map<string, SecureContext>();
  private readonly pending = new Map<string, Promise<SecureContext>>();
  private leafKey?: Promise<{ publicKey: ArrayBuffer; keyPem: string }>;
  private readonly maxEntries: number;

  constructor(private readonly options: LeafContextsOptions) {
    this.maxEntries = options.maxEntries ?? 1000;
  }

  /** The context for `host`: synchronous when it is ready, else a promise for it. */
  get(host: string): SecureContext | Promise<SecureContext> {
    const name = normaliseHost(host);
    const hit = this.ready.get(name);
    if (hit) {
      this.ready.delete(name);
      this.ready.set(name, hit);
      return hit;
    }
    let making = this.pending.get(name);
    if (!making) {
      making = this.make(name).finally(() => this.pending.delete(name));
      this.pending.set(name, making);
    }
    return making;
  }

  /** Is a context for `host` ready or being made (so that asking for it signs nothing new)? */
  has(host: string): boolean {
    const name = normaliseHost(host);
    return this.ready.has(name) || this.pending.has(name);
  }

  /** A signed leaf for `host` in PEM (the certificate only; the key is the process's one). */
  async issue(host: string): Promise<string> {
    const { publicKey } = await this.key();
    const { ca, now } = this.options;
    return createLeafCertificate(ca.signing, { hosts: [normaliseHost(host)], publicKey, now: now(), notAfter: ca.notAfter, validDays: LEAF_VALID_DAYS });
  }

  get size(): number {
    return this.ready.size;
  }

  private async make(name: string): Promise<SecureContext> {
    const { keyPem } = await this.key();
    const certPem = await this.issue(name);
    // The leaf alone: clients that trust the CA hold it already (RFC 8446 §4.4.2 lets the root be omitted).
    const context = createSecureContext({ key: keyPem, cert: certPem });
    this.ready.set(name, context);
    if (this.ready.size > this.maxEntries) this.ready.delete(this.ready.keys().next().value!);
    return context;
  }

  private key(): Promise<{ publicKey: ArrayBuffer; keyPem: string }> {
    this.leafKey ??= generateKeyPair().then(async (pair) => ({ publicKey: await exportSpki(pair.publicKey), keyPem: await exportPrivateKeyPem(pair.privateKey) }));
    return this.leafKey;
  }
}
