// What a client sent first inside a CONNECT tunnel: a TLS ClientHello (RFC 8446 §4.1.2, in a
// handshake record, §5.1), an HTTP/1.1 request line (RFC 9112 §3), or anything else; and the
// server name the ClientHello asks for (SNI, RFC 6066 §3). Pure functions over the bytes read.

export type TunnelPayload = 'tls' | 'http' | 'other';

const HANDSHAKE_RECORD = 0x16;
const CLIENT_HELLO = 0x01;
/** A ClientHello longer than one maximal record is left for the TLS stack to reassemble. */
const MAX_RECORD = 16_384 + 2048;
const METHOD_CHAR = /^[A-Z]$/;
const MAX_METHOD = 16;

/**
 * What these first bytes are, or undefined while they are too few to tell. With `wholeHello`,
 * 'tls' waits for the complete first record so that its SNI can be read.
 */
export function tunnelPayload(bytes: Buffer, wholeHello = false): TunnelPayload | undefined {
  if (bytes.length === 0) return undefined;
  if (bytes[0] === HANDSHAKE_RECORD) {
    if (bytes.length < 3) return undefined;
    // Record versions 3.1-3.4 (TLS 1.0 to 1.3 all send 3.1 or 3.3 here).
    if (bytes[1] !== 0x03 || bytes[2]! > 0x04) return 'other';
    if (!wholeHello) return 'tls';
    if (bytes.length < 5) return undefined;
    const length = bytes.readUInt16BE(3);
    return bytes.length >= 5 + Math.min(length, MAX_RECORD) ? 'tls' : undefined;
  }
  // token SP: a method (RFC 9110 §9); PRI is HTTP/2's preface, which we do not speak in a tunnel.
  for (let i = 0; i < Math.min(bytes.length, MAX_METHOD + 1); i++) {
    const c = bytes[i]!;
    if (c === 0x20) return i > 0 && bytes.subarray(0, i).toString('latin1') !== 'PRI' ? 'http' : 'other';
    if (!METHOD_CHAR.test(String.fromCharCode(c))) return 'other';
  }
  return bytes.length > MAX_METHOD ? 'other' : undefined;
}

/** The host_name of the server_name extension, lower-case; undefined when absent or unreadable. */
export function serverNameOf(record: Buffer): string | undefined {
  try {
    if (record[0] !== HANDSHAKE_RECORD || record[5] !== CLIENT_HELLO) return undefined;
    let at = 5 + 4 + 2 + 32; // record header, handshake header, legacy_version, random
    at += 1 + record[at]!; // legacy_session_id
    at += 2 + record.readUInt16BE(at); // cipher_suites
    at += 1 + record[at]!; // legacy_compression_methods
    const end = Math.min(record.length, at + 2 + record.readUInt16BE(at));
    at += 2;
    while (at + 4 <= end) {
      const type = record.readUInt16BE(at);
      const length = record.readUInt16BE(at + 2);
      at += 4;
      if (type === 0x0000) {
        // ServerNameList: list length, then entries of name_type (0 = host_name), length, name.
        let entry = at + 2;
        while (entry + 3 <= at + length) {
          const nameLength = record.readUInt16BE(entry + 1);
          if (record[entry] === 0) {
            const name = record.subarray(entry + 3, entry + 3 + nameLength).toString('ascii').toLowerCase();
            // RFC 1035 §2.3.4: 253 characters at most; a longer name never becomes a leaf or a memo key.
            return name.length <= 253 && /^[a-z0-9._-]+$/.test(name) ? name : undefined;
          }
          entry += 3 + nameLength;
        }
        return undefined;
      }
      at += length;
    }
  } catch {
    // A truncated or malformed hello: fall back to the CONNECT authority.
  }
  return undefined;
}
