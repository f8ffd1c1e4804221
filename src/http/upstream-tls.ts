// Trust for HTTPS origins (Node's roots, plus --upstream-ca, or nothing with --insecure-upstream)
// and the table of TLS failures → 502 with a body that says which check failed and why.
// upstream.ts owns the connections; this module only decides what they trust and how they fail.
import { readFileSync } from 'node:fs';
import type { AgentOptions } from 'node:https';
import { rootCertificates } from 'node:tls';
import type { ProxyConfig } from '../config/types.js';
import { ConfigError, ProxyError } from '../errors.js';

export interface UpstreamTrust {
  /** PEM roots beside Node's own (the contents of --upstream-ca). */
  extraCaPem?: string;
  insecure: boolean;
}

export function upstreamTrust(config: Pick<ProxyConfig, 'upstreamCa' | 'insecureUpstream'>): UpstreamTrust {
  if (!config.upstreamCa) return { insecure: config.insecureUpstream };
  let pem: string;
  try {
    pem = readFileSync(config.upstreamCa, 'utf8');
  } catch (error) {
    throw new ConfigError(`--upstream-ca: cannot read ${config.upstreamCa}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new ConfigError(`--upstream-ca: expected a PEM file of CA certificates, got ${config.upstreamCa} without "-----BEGIN CERTIFICATE-----"`);
  }
  return { extraCaPem: pem, insecure: config.insecureUpstream };
}

export function httpsAgentOptions(trust: UpstreamTrust = { insecure: false }): AgentOptions {
  return {
    // `ca` replaces Node's roots rather than adding to them: keep both.
    ...(trust.extraCaPem && { ca: [...rootCertificates, trust.extraCaPem] }),
    rejectUnauthorized: !trust.insecure,
  };
}

const UNTRUSTED = { code: 'upstream_cert_untrusted', text: "the origin's certificate is not signed by a trusted CA", hint: 'add its CA with --upstream-ca FILE' };
const EXPIRED = { code: 'upstream_cert_expired', text: "the origin's certificate is expired or not yet valid", hint: 'check the origin and the clock' };
const MISMATCH = { code: 'upstream_cert_name_mismatch', text: "the origin's certificate is not valid for this host name", hint: '' };
const HANDSHAKE = { code: 'upstream_tls_handshake', text: 'the TLS handshake with the origin failed', hint: 'does it speak TLS on this port?' };

/** OpenSSL verification codes (X509_V_ERR_*) and Node's own TLS codes → which check failed. */
const TLS_ERROR_TABLE: Record<string, typeof UNTRUSTED> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: UNTRUSTED,
  SELF_SIGNED_CERT_IN_CHAIN: UNTRUSTED,
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: UNTRUSTED,
  UNABLE_TO_GET_ISSUER_CERT: UNTRUSTED,
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: UNTRUSTED,
  CERT_UNTRUSTED: UNTRUSTED,
  CERT_SIGNATURE_FAILURE: UNTRUSTED,
  INVALID_CA: UNTRUSTED,
  CERT_REVOKED: UNTRUSTED,
  CERT_HAS_EXPIRED: EXPIRED,
  CERT_NOT_YET_VALID: EXPIRED,
  ERR_TLS_CERT_ALTNAME_INVALID: MISMATCH,
  HOSTNAME_MISMATCH: MISMATCH,
  EPROTO: HANDSHAKE,
};

/** A TLS failure before the response head, as a 502 naming the check; undefined for other errors. */
export function tlsUpstreamError(error: unknown, host: string): ProxyError | undefined {
  const { code = '', message = '' } = (error ?? {}) as { code?: string; message?: string };
  let row = TLS_ERROR_TABLE[code];
  if (!row && code.startsWith('ERR_SSL_')) row = HANDSHAKE;
  // Node reports a peer that hangs up mid-handshake as ECONNRESET with this message.
  if (!row && code === 'ECONNRESET' && message.includes('before secure TLS connection')) row = HANDSHAKE;
  if (!row) return undefined;
  // OpenSSL's messages carry file names and offsets; its reason text is the part worth showing.
  const reason = /SSL routines:(?:[^:]*:)?([^:]+)/.exec(message)?.[1] ?? message.slice(0, 200);
  const why = [code, reason].filter(Boolean).join(': ');
  return new ProxyError(502, row.code, `${row.text}: ${host} (${why})${row.hint ? `; ${row.hint}` : ''}`);
}
