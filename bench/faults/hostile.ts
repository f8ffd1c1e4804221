// THE hostile-input table: raw requests sent over their own sockets, each with the answer issue 7
// asks for (statuses in order, and whether the proxy must close), plus the runner that plays
// them while a well-behaved client on another connection checks every byte it gets back.
// Run by `npm run faults` (bench/faults/main.ts), which CI runs (.ci/run). `dependsOn` names the
// fix a row was written for; every one has landed, so a failing row fails the run.
import http from 'node:http';
import { networkInterfaces } from 'node:os';
import { bodyFor, OK_BODY, TARGET_BODY, type FaultOrigin } from './env.js';
import { exchange, type Exchange } from './wire.js';

export interface HostileEnv {
  proxyPort: number;
  adminPort: number;
  origin: FaultOrigin;
  /** An address of this host that is not loopback (or 127.0.0.2 when it has none). */
  interfaceAddress: string;
}

export interface HostileRow {
  id: string;
  group: string;
  what: string;
  /** The bytes to send (or pieces, sent with short pauses). */
  send(env: HostileEnv): string | Buffer | (string | Buffer)[];
  /** Each response's allowed statuses, in order; [] = no response at all. */
  statuses: (number | number[])[];
  /** true: the proxy must close the connection after those responses; false: keep it open. */
  close?: boolean;
  /** Statuses that may follow the expected responses (e.g. a 400 after a close was announced). */
  mayAlsoAnswer?: number[];
  halfClose?: boolean;
  headAt?: number[];
  /** Further checks on what came back (and on the proxy afterwards); a string is a failure. */
  check?(result: Exchange, env: HostileEnv): Promise<string | undefined> | string | undefined;
  /** The defect (and the branch fixing it) this row waits for, when it fails before that merge. */
  dependsOn?: string;
}

const LEAD_GET_BODY = 'GET/HEAD with a body must be relayed with it, never looked up or stored (issue 7 defect 1, lead)';
const LEAD_SELF = 'requests and tunnels to any listener of this process are answered locally (issue 7 defect 3, lead)';
const WIRE_LINES = 'strict request lines: HTTP/0.9 → 400, HTTP/2.0 → 505 (issue 7 defect 8, wire hardening)';
const WIRE_PIPELINE = 'pipelined valid request + garbage: answer in order, then 400 and close (issue 7 defect 7, wire hardening)';
const WIRE_HALF_CLOSE = 'a half-closed client still gets its answer (issue 7 defect 9, wire hardening)';
const WIRE_TRACE = 'TRACE refused with 405 (issue 7 defect 9, wire hardening)';

// Found by this table; not part of anyone's branch yet (reported to the lead).
const FOUND_EMPTY_HOST = 'found here: an http URI with an empty authority is forwarded (WHATWG parsing) instead of 400 (src/http/request-target.ts, lead)';

const CRLF = '\r\n';

/** A request with Host set to the origin unless `headers` says otherwise. */
function request(method: string, target: string, headers: Record<string, string> | string[], body = ''): string {
  const lines = Array.isArray(headers) ? headers : Object.entries(headers).map(([k, v]) => `${k}: ${v}`);
  return `${method} ${target} HTTP/1.1${CRLF}${lines.join(CRLF)}${lines.length ? CRLF : ''}${CRLF}${body}`;
}

const get = (env: HostileEnv, path: string, extra: string[] = [], body = '') => request('GET', `http://${env.origin.host}${path}`, [`Host: ${env.origin.host}`, ...extra], body);

function bodyIs(expected: Buffer | string, index = 0) {
  return (result: Exchange) => {
    const got = result.responses[index]?.body;
    const want = Buffer.isBuffer(expected) ? expected : Buffer.from(expected);
    return got && got.equals(want) ? undefined : `response ${index + 1} body ${JSON.stringify(got?.toString('latin1').slice(0, 80))}, expected ${JSON.stringify(want.toString('latin1').slice(0, 80))}`;
  };
}

/** The request answered by the proxy itself: no Cache-Status (a forwarded answer always has one). */
function answeredLocally(result: Exchange): string | undefined {
  const response = result.responses[0];
  if (!response) return 'no response';
  // A destination refused by the guard was never contacted, whatever Cache-Status says it tried.
  const refusedHere = response.status === 403 && response.body.toString('latin1').startsWith('403 destination_forbidden');
  if (response.headers['cache-status'] !== undefined && !refusedHere) return `forwarded (cache-status: ${response.headers['cache-status']})`;
  if (response.body.toString('latin1').trimStart().startsWith('{')) return 'answered by the admin API';
  return undefined;
}

/** One plain GET through the proxy on a fresh connection. */
export function plainGet(env: HostileEnv, path: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: env.proxyPort, path: `http://${env.origin.host}${path}`, headers: { host: env.origin.host }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.setTimeout(5000, () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

// Every address form that reaches this host's loopback, as the issue lists them.
const LOOPBACK_FORMS = ['127.0.0.1', 'localhost', '127.1', '2130706433', '0x7f000001', '[::1]', '[::ffff:127.0.0.1]', '0.0.0.0'] as const;

const selfRows: HostileRow[] = [
  ...[...LOOPBACK_FORMS, 'interface'].map(
    (form): HostileRow => ({
      id: `admin-absolute-${form}`,
      group: 'own listeners',
      what: `GET http://${form}:<admin-port>/policies through the proxy`,
      send: (env) => {
        const host = form === 'interface' ? env.interfaceAddress : form;
        return request('GET', `http://${host}:${env.adminPort}/policies`, [`Host: ${host}:${env.adminPort}`]);
      },
      statuses: [[403, 404]],
      check: answeredLocally,
      dependsOn: LEAD_SELF,
    }),
  ),
  ...(['127.0.0.1', 'localhost', '[::ffff:127.0.0.1]', 'interface'] as const).map(
    (form): HostileRow => ({
      id: `admin-connect-${form}`,
      group: 'own listeners',
      what: `CONNECT ${form}:<admin-port>`,
      send: (env) => {
        const host = form === 'interface' ? env.interfaceAddress : form;
        return request('CONNECT', `${host}:${env.adminPort}`, [`Host: ${host}:${env.adminPort}`]);
      },
      statuses: [403],
      dependsOn: LEAD_SELF,
    }),
  ),
  ...(['127.1', '2130706433', '[::ffff:127.0.0.1]', 'interface'] as const).map(
    (form): HostileRow => ({
      id: `proxy-absolute-${form}`,
      group: 'own listeners',
      what: `GET http://${form}:<proxy-port>/ through the proxy → its own help page`,
      send: (env) => {
        const host = form === 'interface' ? env.interfaceAddress : form;
        return request('GET', `http://${host}:${env.proxyPort}/`, [`Host: ${host}:${env.proxyPort}`]);
      },
      statuses: [200],
      check: answeredLocally,
      ...((form === '[::ffff:127.0.0.1]' || form === 'interface') && { dependsOn: LEAD_SELF }),
    }),
  ),
  {
    id: 'proxy-connect-self',
    group: 'own listeners',
    what: 'CONNECT 127.0.0.1:<proxy-port>',
    send: (env) => request('CONNECT', `127.0.0.1:${env.proxyPort}`, [`Host: 127.0.0.1:${env.proxyPort}`]),
    statuses: [403],
    dependsOn: LEAD_SELF,
  },
];

const requestLineRows: HostileRow[] = [
  // `GET /` and its line end alone waits for header lines and gets the 408 of an incomplete head
  // at --headers-timeout (test/proxy/wire-safety.test.ts): spotting it sooner meant reading every
  // connection's first bytes in JS, which took node's HTTP parser off the socket (issue 22).
  { id: 'line-http09', group: 'request line', what: 'HTTP/0.9 style: GET /path with no version', send: () => `GET /${CRLF}${CRLF}`, statuses: [400], close: true, dependsOn: WIRE_LINES },
  { id: 'line-http09-absolute', group: 'request line', what: 'GET http://origin/ok with no version', send: (env) => `GET http://${env.origin.host}/ok${CRLF}${CRLF}`, statuses: [400], close: true, dependsOn: WIRE_LINES },
  { id: 'line-http2', group: 'request line', what: 'GET … HTTP/2.0', send: (env) => `GET http://${env.origin.host}/ok HTTP/2.0${CRLF}Host: ${env.origin.host}${CRLF}${CRLF}`, statuses: [505], close: true, dependsOn: WIRE_LINES },
  { id: 'line-http3', group: 'request line', what: 'GET … HTTP/3.0', send: (env) => `GET http://${env.origin.host}/ok HTTP/3.0${CRLF}Host: ${env.origin.host}${CRLF}${CRLF}`, statuses: [[400, 505]], close: true },
  { id: 'line-http10', group: 'request line', what: 'GET … HTTP/1.0 (no Host)', send: (env) => `GET http://${env.origin.host}/ok HTTP/1.0${CRLF}${CRLF}`, statuses: [200], check: bodyIs(OK_BODY) },
  { id: 'line-lowercase-method', group: 'request line', what: 'get (methods are case-sensitive)', send: (env) => request('get', `http://${env.origin.host}/ok`, [`Host: ${env.origin.host}`]), statuses: [[400, 501]], close: true },
  { id: 'line-unknown-method', group: 'request line', what: 'FOO method', send: (env) => request('FOO', `http://${env.origin.host}/ok`, [`Host: ${env.origin.host}`]), statuses: [[400, 501]] },
  { id: 'line-trace', group: 'request line', what: 'TRACE', send: (env) => request('TRACE', `http://${env.origin.host}/ok`, [`Host: ${env.origin.host}`]), statuses: [405], dependsOn: WIRE_TRACE },
  { id: 'line-double-space', group: 'request line', what: 'two spaces after the method (RFC 9112 §3: reject, or split on whitespace)', send: (env) => `GET  http://${env.origin.host}/ok HTTP/1.1${CRLF}Host: ${env.origin.host}${CRLF}${CRLF}`, statuses: [[200, 400]] },
  { id: 'line-extra-token', group: 'request line', what: 'a fourth token after the version', send: (env) => `GET http://${env.origin.host}/ok HTTP/1.1 extra${CRLF}Host: ${env.origin.host}${CRLF}${CRLF}`, statuses: [400], close: true },
  { id: 'line-tabs', group: 'request line', what: 'tabs between the parts', send: (env) => `GET\thttp://${env.origin.host}/ok\tHTTP/1.1${CRLF}Host: ${env.origin.host}${CRLF}${CRLF}`, statuses: [400], close: true },
  { id: 'line-leading-crlf', group: 'request line', what: 'an empty line before the request line (RFC 9112 §2.2: ignored)', send: (env) => `${CRLF}${get(env, '/ok')}`, statuses: [200], check: bodyIs(OK_BODY) },
  { id: 'line-long-uri', group: 'request line', what: 'a 20 KB request-target', send: (env) => get(env, `/ok?${'a'.repeat(20_000)}`), statuses: [[414, 431]], close: true },
  { id: 'line-no-target', group: 'request line', what: 'GET HTTP/1.1 (no target)', send: (env) => `GET HTTP/1.1${CRLF}Host: ${env.origin.host}${CRLF}${CRLF}`, statuses: [400], close: true },
  { id: 'line-space-in-target', group: 'request line', what: 'a space inside the target', send: (env) => `GET http://${env.origin.host}/a b HTTP/1.1${CRLF}Host: ${env.origin.host}${CRLF}${CRLF}`, statuses: [400], close: true },
  { id: 'line-asterisk', group: 'request line', what: 'GET * (asterisk-form is for OPTIONS only)', send: (env) => request('GET', '*', [`Host: ${env.origin.host}`]), statuses: [400] },
  { id: 'line-control-char', group: 'request line', what: 'a control character in the target', send: (env) => `GET http://${env.origin.host}/\x01 HTTP/1.1${CRLF}Host: ${env.origin.host}${CRLF}${CRLF}`, statuses: [400], close: true },
  { id: 'line-nul', group: 'request line', what: 'NUL in the request line', send: (env) => `GET http://${env.origin.host}/ok\x00 HTTP/1.1${CRLF}Host: ${env.origin.host}${CRLF}${CRLF}`, statuses: [400], close: true },
];

const headerRows: HostileRow[] = [
  { id: 'head-one-huge-field', group: 'header fields', what: 'one 20 KB field (head over 16 KiB)', send: (env) => get(env, '/ok', [`X-Big: ${'b'.repeat(20_000)}`]), statuses: [431], close: true },
  { id: 'head-many-fields-oversized', group: 'header fields', what: '250 fields of 100 bytes (25 KB head)', send: (env) => get(env, '/ok', Array.from({ length: 250 }, (_, i) => `X-F${i}: ${'v'.repeat(90)}`)), statuses: [431], close: true },
  { id: 'head-many-small-fields', group: 'header fields', what: '500 small fields (6 KB head): allowed', send: (env) => get(env, '/ok', Array.from({ length: 500 }, (_, i) => `X-${i}: 1`)), statuses: [200], check: bodyIs(OK_BODY) },
  { id: 'head-space-before-colon', group: 'header fields', what: 'Host : x (space before the colon, RFC 9112 §5.1)', send: (env) => get(env, '/ok', ['X-A : 1']), statuses: [400], close: true },
  { id: 'head-nul-in-value', group: 'header fields', what: 'NUL in a field value', send: (env) => get(env, '/ok', ['X-A: a\x00b']), statuses: [400], close: true },
  { id: 'head-nul-in-name', group: 'header fields', what: 'NUL in a field name', send: (env) => get(env, '/ok', ['X-\x00A: 1']), statuses: [400], close: true },
  { id: 'head-cr-in-value', group: 'header fields', what: 'a bare CR inside a value', send: (env) => get(env, '/ok', ['X-A: a\rb']), statuses: [400], close: true },
  { id: 'head-lf-in-value', group: 'header fields', what: 'a bare LF splitting a value into a new field (injection)', send: (env) => get(env, '/ok', ['X-A: a\nX-Injected: 1']), statuses: [[200, 400]] },
  { id: 'head-bare-lf-lines', group: 'header fields', what: 'bare LF line endings throughout (RFC 9112 §2.2 lets a recipient accept them)', send: (env) => `GET http://${env.origin.host}/ok HTTP/1.1\nHost: ${env.origin.host}\n\n`, statuses: [[200, 400]] },
  { id: 'head-obs-fold', group: 'header fields', what: 'obs-fold (RFC 9112 §5.2: reject, or replace with SP)', send: (env) => get(env, '/echo?fold', ['X-A: one', ' two']), statuses: [[200, 400]] },
  { id: 'head-no-colon', group: 'header fields', what: 'a field line without a colon', send: (env) => get(env, '/ok', ['NoColonHere']), statuses: [400], close: true },
  { id: 'head-empty-name', group: 'header fields', what: 'an empty field name', send: (env) => get(env, '/ok', [': value']), statuses: [400], close: true },
  { id: 'head-no-host', group: 'header fields', what: 'HTTP/1.1 without Host (RFC 9112 §3.2: 400)', send: (env) => request('GET', `http://${env.origin.host}/ok`, []), statuses: [400] },
  { id: 'head-host-mismatch', group: 'header fields', what: 'Host differs from the absolute target: the target wins (RFC 9112 §3.2.2)', send: (env) => request('GET', `http://${env.origin.host}/echo?hostwins`, ['Host: elsewhere.invalid']), statuses: [200], check: (r, env) => bodyIs(`GET host=${env.origin.host} length=0 body=`)(r) },
  { id: 'head-obs-text', group: 'header fields', what: 'obs-text (0xE9) in a value: allowed', send: (env) => Buffer.from(get(env, '/ok', ['X-A: caf\xe9']), 'latin1'), statuses: [200], check: bodyIs(OK_BODY) },
  { id: 'head-del-in-value', group: 'header fields', what: 'DEL (0x7F) in a value', send: (env) => get(env, '/ok', ['X-A: a\x7fb']), statuses: [400], close: true },
  { id: 'head-invalid-name-char', group: 'header fields', what: 'a "(" in a field name', send: (env) => get(env, '/ok', ['X(A): 1']), statuses: [400], close: true },
];

const framingRows: HostileRow[] = [
  { id: 'frame-cl-and-te', group: 'framing', what: 'Content-Length and Transfer-Encoding together', send: (env) => request('POST', `http://${env.origin.host}/echo?clte`, [`Host: ${env.origin.host}`, 'Content-Length: 5', 'Transfer-Encoding: chunked'], `0${CRLF}${CRLF}`), statuses: [400], close: true },
  { id: 'frame-two-cl', group: 'framing', what: 'two different Content-Lengths', send: (env) => request('POST', `http://${env.origin.host}/echo?twocl`, [`Host: ${env.origin.host}`, 'Content-Length: 3', 'Content-Length: 5'], 'hello'), statuses: [400], close: true },
  { id: 'frame-cl-list', group: 'framing', what: 'Content-Length: 3, 5', send: (env) => request('POST', `http://${env.origin.host}/echo?cllist`, [`Host: ${env.origin.host}`, 'Content-Length: 3, 5'], 'hello'), statuses: [400], close: true },
  { id: 'frame-cl-negative', group: 'framing', what: 'Content-Length: -1', send: (env) => request('POST', `http://${env.origin.host}/echo?neg`, [`Host: ${env.origin.host}`, 'Content-Length: -1']), statuses: [400], close: true },
  { id: 'frame-cl-text', group: 'framing', what: 'Content-Length: abc', send: (env) => request('POST', `http://${env.origin.host}/echo?abc`, [`Host: ${env.origin.host}`, 'Content-Length: abc']), statuses: [400], close: true },
  { id: 'frame-cl-plus', group: 'framing', what: 'Content-Length: +5', send: (env) => request('POST', `http://${env.origin.host}/echo?plus`, [`Host: ${env.origin.host}`, 'Content-Length: +5'], 'hello'), statuses: [400], close: true },
  { id: 'frame-te-not-final', group: 'framing', what: 'Transfer-Encoding: chunked, identity (chunked not last: RFC 9112 §6.3 → 400)', send: (env) => request('POST', `http://${env.origin.host}/echo?tenf`, [`Host: ${env.origin.host}`, 'Transfer-Encoding: chunked, identity'], `0${CRLF}${CRLF}`), statuses: [400], close: true },
  { id: 'frame-te-unknown', group: 'framing', what: 'Transfer-Encoding: xchunked', send: (env) => request('POST', `http://${env.origin.host}/echo?tex`, [`Host: ${env.origin.host}`, 'Transfer-Encoding: xchunked'], `0${CRLF}${CRLF}`), statuses: [[400, 501]], close: true },
  { id: 'frame-bad-chunk-size', group: 'framing', what: 'chunk size "zz"', send: (env) => request('POST', `http://${env.origin.host}/echo?zz`, [`Host: ${env.origin.host}`, 'Transfer-Encoding: chunked'], `zz${CRLF}hello${CRLF}0${CRLF}${CRLF}`), statuses: [400], close: true },
  { id: 'frame-chunk-overflow', group: 'framing', what: 'chunk size of 18 hex digits', send: (env) => request('POST', `http://${env.origin.host}/echo?ovf`, [`Host: ${env.origin.host}`, 'Transfer-Encoding: chunked'], `ffffffffffffffffff${CRLF}x${CRLF}0${CRLF}${CRLF}`), statuses: [400], close: true },
  { id: 'frame-chunk-no-crlf', group: 'framing', what: 'chunk data not followed by CRLF', send: (env) => request('POST', `http://${env.origin.host}/echo?nocrlf`, [`Host: ${env.origin.host}`, 'Transfer-Encoding: chunked'], `5${CRLF}helloXX0${CRLF}${CRLF}`), statuses: [[400, 502]], close: true },
  { id: 'frame-chunk-extension', group: 'framing', what: 'a valid chunk extension', send: (env) => request('POST', `http://${env.origin.host}/echo?ext`, [`Host: ${env.origin.host}`, 'Transfer-Encoding: chunked'], `5;name=value${CRLF}hello${CRLF}0${CRLF}${CRLF}`), statuses: [200], check: (r, env) => bodyIs(`POST host=${env.origin.host} length=5 body=hello`)(r) },
  { id: 'frame-chunked-truncated', group: 'framing', what: 'a chunked body cut short, then the client half-closes', send: (env) => request('POST', `http://${env.origin.host}/echo?trunc`, [`Host: ${env.origin.host}`, 'Transfer-Encoding: chunked'], `a${CRLF}hel`), halfClose: true, statuses: [[400, 502]], close: true, check: (_r, env) => (env.origin.count('/echo?trunc') ? 'the origin answered a request whose body was cut' : undefined) },
  { id: 'frame-post-cl', group: 'framing', what: 'POST with Content-Length (control)', send: (env) => request('POST', `http://${env.origin.host}/echo?post`, [`Host: ${env.origin.host}`, 'Content-Length: 5'], 'hello'), statuses: [200], check: (r, env) => bodyIs(`POST host=${env.origin.host} length=5 body=hello`)(r) },
];

const getWithBodyRows: HostileRow[] = [
  {
    id: 'body-get-cl',
    group: 'GET with a body',
    what: 'GET with Content-Length: 5 then a GET on the same connection',
    send: (env) => [get(env, '/echo?gwb1', ['Content-Length: 5'], 'hello') + get(env, '/ok')],
    statuses: [200, 200],
    check: async (r, env) => {
      const first = bodyIs(`GET host=${env.origin.host} length=5 body=hello`)(r) ?? bodyIs(OK_BODY, 1)(r);
      if (first) return first;
      const again = await plainGet(env, '/echo?gwb1');
      return again.body.toString('latin1') === `GET host=${env.origin.host} length=0 body=` ? undefined : `the answer to the GET with a body was stored: ${again.body.toString('latin1')}`;
    },
    dependsOn: LEAD_GET_BODY,
  },
  {
    id: 'body-get-desync',
    group: 'GET with a body',
    what: 'GET whose Content-Length covers a smuggled "GET /evil": /target must stay /target',
    send: (env) => {
      const smuggled = `GET /evil HTTP/1.1${CRLF}Host: ${env.origin.host}${CRLF}${CRLF}`;
      return get(env, '/echo?gwb2', [`Content-Length: ${smuggled.length}`], smuggled);
    },
    statuses: [200],
    check: async (r, env) => {
      const smuggled = `GET /evil HTTP/1.1${CRLF}Host: ${env.origin.host}${CRLF}${CRLF}`;
      const echoed = bodyIs(`GET host=${env.origin.host} length=${smuggled.length} body=${smuggled}`)(r);
      for (let i = 0; i < 3; i++) {
        const target = await plainGet(env, '/target');
        if (!target.body.equals(TARGET_BODY)) return `/target answered ${JSON.stringify(target.body.toString('latin1'))}`;
      }
      return echoed;
    },
    dependsOn: LEAD_GET_BODY,
  },
  { id: 'body-get-chunked', group: 'GET with a body', what: 'GET with a chunked body', send: (env) => get(env, '/echo?gwb3', ['Transfer-Encoding: chunked'], `5${CRLF}hello${CRLF}0${CRLF}${CRLF}`), statuses: [200], check: (r, env) => bodyIs(`GET host=${env.origin.host} length=5 body=hello`)(r), dependsOn: LEAD_GET_BODY },
  {
    id: 'body-head-cl',
    group: 'GET with a body',
    what: 'HEAD with Content-Length: 3 then a GET on the same connection',
    send: (env) => request('HEAD', `http://${env.origin.host}/echo?hwb`, [`Host: ${env.origin.host}`, 'Content-Length: 3'], 'abc') + get(env, '/ok'),
    statuses: [200, 200],
    headAt: [0],
    check: (r, env) => bodyIs(OK_BODY, 1)(r) ?? (env.origin.requests.find((q) => q.url === '/echo?hwb')?.body.toString() === 'abc' ? undefined : 'the origin did not get the HEAD body'),
    dependsOn: LEAD_GET_BODY,
  },
];

const targetRows: HostileRow[] = [
  // Issue 8: https:// targets are fetched over TLS; this origin speaks plain HTTP, so the handshake fails.
  { id: 'target-https', group: 'schemes and ports', what: 'GET https://… in absolute-form, to a plain-HTTP origin', send: (env) => request('GET', `https://${env.origin.host}/ok`, [`Host: ${env.origin.host}`]), statuses: [502] },
  { id: 'target-ftp', group: 'schemes and ports', what: 'GET ftp://…', send: (env) => request('GET', `ftp://${env.origin.host}/ok`, [`Host: ${env.origin.host}`]), statuses: [400] },
  { id: 'target-file', group: 'schemes and ports', what: 'GET file:///etc/passwd', send: () => request('GET', 'file:///etc/passwd', ['Host: localhost']), statuses: [400] },
  { id: 'target-javascript', group: 'schemes and ports', what: 'GET javascript:alert(1)', send: () => request('GET', 'javascript:alert(1)', ['Host: x']), statuses: [400] },
  { id: 'target-port-0', group: 'schemes and ports', what: 'port 0', send: () => request('GET', 'http://127.0.0.1:0/', ['Host: 127.0.0.1:0']), statuses: [[400, 502]] },
  { id: 'target-port-too-big', group: 'schemes and ports', what: 'port 99999', send: () => request('GET', 'http://127.0.0.1:99999/', ['Host: 127.0.0.1:99999']), statuses: [400] },
  { id: 'target-port-text', group: 'schemes and ports', what: 'port "abc"', send: () => request('GET', 'http://127.0.0.1:abc/', ['Host: 127.0.0.1']), statuses: [400] },
  { id: 'target-userinfo', group: 'schemes and ports', what: 'userinfo in the target', send: (env) => request('GET', `http://user:pass@${env.origin.host}/ok`, [`Host: ${env.origin.host}`]), statuses: [400] },
  // WHATWG URL reads http:///127.0.0.1:9/ as http://127.0.0.1:9/; RFC 9110 §4.2.1 says reject it.
  { id: 'target-empty-host', group: 'schemes and ports', what: 'http:///127.0.0.1:9/ (empty authority, RFC 9110 §4.2.1: invalid)', send: () => request('GET', 'http:///127.0.0.1:9/', ['Host: x']), statuses: [400], dependsOn: FOUND_EMPTY_HOST },
  { id: 'target-scheme-relative', group: 'schemes and ports', what: '//host/path is origin-form: the proxy\'s own 404', send: (env) => request('GET', `//${env.origin.host}/ok`, [`Host: ${env.origin.host}`]), statuses: [404], check: answeredLocally },
  { id: 'target-ipv6-refused', group: 'schemes and ports', what: 'http://[::1]:<closed port>/ → 502', send: () => request('GET', 'http://[::1]:9/', ['Host: [::1]:9']), statuses: [502] },
];

const connectRows: HostileRow[] = [
  // Outside --connect-ports only a tunnel whose contents are HTTP may pass (served here, not relayed).
  {
    id: 'connect-origin-port',
    group: 'CONNECT',
    what: 'CONNECT 127.0.0.1:<origin port> (not 443/80), then a GET inside: served as http://',
    send: (env) => request('CONNECT', env.origin.host, [`Host: ${env.origin.host}`]) + request('GET', '/ok', [`Host: ${env.origin.host}`]),
    statuses: [200, 200],
    // The CONNECT's 200 has no body (RFC 9112 §6.3), as a HEAD's.
    headAt: [0],
    check: bodyIs(OK_BODY, 1),
  },
  { id: 'connect-smtp', group: 'CONNECT', what: 'CONNECT 127.0.0.1:25, then bytes that are not HTTP: 200, then closed', send: () => [request('CONNECT', '127.0.0.1:25', ['Host: 127.0.0.1:25']), '\x00\x01binary'], statuses: [200], close: true },
  { id: 'connect-443-refused', group: 'CONNECT', what: 'CONNECT 127.0.0.1:443 (allowed port, nothing listening) → 502', send: () => request('CONNECT', '127.0.0.1:443', ['Host: 127.0.0.1:443']), statuses: [502] },
  { id: 'connect-no-port', group: 'CONNECT', what: 'CONNECT 127.0.0.1 (no port)', send: () => request('CONNECT', '127.0.0.1', ['Host: 127.0.0.1']), statuses: [400] },
  { id: 'connect-absolute-url', group: 'CONNECT', what: 'CONNECT http://127.0.0.1:443/', send: () => request('CONNECT', 'http://127.0.0.1:443/', ['Host: 127.0.0.1:443']), statuses: [400] },
  { id: 'connect-port-0', group: 'CONNECT', what: 'CONNECT 127.0.0.1:0', send: () => request('CONNECT', '127.0.0.1:0', ['Host: 127.0.0.1:0']), statuses: [400] },
  { id: 'connect-userinfo', group: 'CONNECT', what: 'CONNECT user@127.0.0.1:443', send: () => request('CONNECT', 'user@127.0.0.1:443', ['Host: 127.0.0.1:443']), statuses: [400] },
  { id: 'connect-path', group: 'CONNECT', what: 'CONNECT /', send: () => request('CONNECT', '/', ['Host: 127.0.0.1']), statuses: [400] },
];

const connectionRows: HostileRow[] = [
  { id: 'pipe-two-valid', group: 'pipelining', what: 'two pipelined GETs answered in order', send: (env) => get(env, '/ok') + get(env, '/target'), statuses: [200, 200], close: false, check: (r) => bodyIs(OK_BODY)(r) ?? bodyIs(TARGET_BODY, 1)(r) },
  { id: 'pipe-valid-then-garbage', group: 'pipelining', what: 'a valid GET then garbage: the 200 first, then 400 and close', send: (env) => `${get(env, '/ok')}THIS IS NOT HTTP${CRLF}${CRLF}`, statuses: [200, 400], close: true, check: bodyIs(OK_BODY), dependsOn: WIRE_PIPELINE },
  { id: 'pipe-head-between', group: 'pipelining', what: 'GET, HEAD, GET pipelined', send: (env) => get(env, '/ok') + request('HEAD', `http://${env.origin.host}/ok`, [`Host: ${env.origin.host}`]) + get(env, '/target'), headAt: [1], statuses: [200, 200, 200], check: (r) => bodyIs(OK_BODY)(r) ?? bodyIs(TARGET_BODY, 2)(r) },
  { id: 'pipe-close-first', group: 'pipelining', what: 'Connection: close on the first of two: the first is answered, then the close', send: (env) => get(env, '/ok', ['Connection: close']) + get(env, '/target'), statuses: [200], mayAlsoAnswer: [400], close: true, check: bodyIs(OK_BODY), dependsOn: WIRE_PIPELINE },
  { id: 'pipe-ten', group: 'pipelining', what: 'ten pipelined GETs of different URLs, each its own body', send: (env) => Array.from({ length: 10 }, (_, i) => get(env, `/fresh/${i}`)).join(''), statuses: Array.from({ length: 10 }, () => 200), check: (r) => r.responses.map((res, i) => (res.body.equals(bodyFor(i, 1500)) ? undefined : `response ${i + 1} has the wrong body`)).find(Boolean) },
  { id: 'conn-half-close', group: 'connection', what: 'a complete GET of a slow URL, then the client half-closes: still answered', send: (env) => get(env, '/slow/1'), halfClose: true, statuses: [200], check: bodyIs(bodyFor(1, 1500)), dependsOn: WIRE_HALF_CLOSE },
  { id: 'conn-half-close-hit', group: 'connection', what: 'a complete GET of a cached URL, then the client half-closes', send: (env) => get(env, '/ok'), halfClose: true, statuses: [200], check: bodyIs(OK_BODY) },
  { id: 'conn-byte-by-byte', group: 'connection', what: 'a request written in 1-byte pieces', send: (env) => [...get(env, '/ok')], statuses: [200], check: bodyIs(OK_BODY) },
  { id: 'conn-empty', group: 'connection', what: 'connect and half-close without a byte', send: () => '', halfClose: true, statuses: [], close: true },
  { id: 'conn-garbage-only', group: 'connection', what: 'binary garbage', send: () => Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03, 0x0d, 0x0a, 0x0d, 0x0a]), statuses: [400], close: true },
];

export const HOSTILE_ROWS: readonly HostileRow[] = [...requestLineRows, ...headerRows, ...framingRows, ...getWithBodyRows, ...targetRows, ...connectRows, ...selfRows, ...connectionRows];

export interface RowResult {
  row: HostileRow;
  ok: boolean;
  got: string;
  problem?: string;
}

function describeResult(result: Exchange): string {
  const statuses = result.responses.map((r) => String(r.status));
  return `${statuses.join(', ') || 'no response'}${result.closed ? ' + close' : ''}`;
}

export async function runRow(row: HostileRow, env: HostileEnv, timeoutMs = 2000): Promise<RowResult> {
  const payload = row.send(env);
  const pieces = Array.isArray(payload) ? payload : [payload];
  const closeMatters = row.close !== undefined;
  const result = await exchange(env.proxyPort, '127.0.0.1', '', {
    pieces,
    pauseMs: pieces.length > 50 ? 1 : 20,
    halfClose: row.halfClose,
    headAt: row.headAt,
    // Without a close to wait for, stop once the expected responses arrived (plus a short grace
    // below for an unexpected extra one); an expected close is waited for.
    expectResponses: row.close === true ? undefined : row.statuses.length,
    untilClose: row.close === true,
    timeoutMs: row.close === false || !closeMatters ? Math.min(timeoutMs, 1500) : timeoutMs,
  });
  const got = describeResult(result);
  const problems: string[] = [];
  const extra = result.responses.slice(row.statuses.length);
  const tolerated = extra.every((r) => row.mayAlsoAnswer?.includes(r.status));
  if (result.responses.length < row.statuses.length || !tolerated) problems.push(`${result.responses.length} responses, expected ${row.statuses.length}`);
  row.statuses.forEach((allowed, i) => {
    const status = result.responses[i]?.status;
    const set = Array.isArray(allowed) ? allowed : [allowed];
    if (status !== undefined && !set.includes(status)) problems.push(`response ${i + 1} is ${status}, expected ${set.join(' or ')}`);
  });
  if (row.close === true && !result.closed) problems.push('the connection stayed open');
  if (row.close === false && result.closed) problems.push('the connection was closed');
  if (!problems.length && row.check) {
    const problem = await row.check(result, env);
    if (problem) problems.push(problem);
  }
  return { row, ok: problems.length === 0, got, ...(problems.length && { problem: problems.join('; ') }) };
}

/** A client that only ever sends correct requests, on its own keep-alive connection, checking every byte. */
export class WellBehavedClient {
  ok = 0;
  wrong: string[] = [];
  private running = true;
  private readonly done: Promise<void>;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

  constructor(private readonly env: HostileEnv) {
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    let n = 0;
    while (this.running) {
      n++;
      const path = n % 2 ? '/ok' : `/fresh/${n}`;
      const expected = n % 2 ? OK_BODY : bodyFor(n, 1500);
      try {
        const res = await this.fetch(path);
        if (res.status === 200 && res.body.equals(expected)) this.ok++;
        else this.wrong.push(`${path}: ${res.status} ${JSON.stringify(res.body.toString('latin1').slice(0, 60))}`);
      } catch (error) {
        this.wrong.push(`${path}: ${(error as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  private fetch(path: string): Promise<{ status: number; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: this.env.proxyPort, path: `http://${this.env.origin.host}${path}`, headers: { host: this.env.origin.host }, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.setTimeout(5000, () => req.destroy(new Error('timed out')));
      req.on('error', reject);
      req.end();
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
    this.agent.destroy();
  }
}

export function interfaceAddress(): string {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) if (!address.internal && address.family === 'IPv4') return address.address;
  }
  return '127.0.0.2';
}

/** Every row (a few at a time), while the well-behaved client runs on its own connection. */
export async function runHostileTable(env: HostileEnv, rows: readonly HostileRow[] = HOSTILE_ROWS, concurrency = 8): Promise<{ results: RowResult[]; bystander: { ok: number; wrong: string[] } }> {
  const bystander = new WellBehavedClient(env);
  const results: RowResult[] = new Array(rows.length);
  let next = 0;
  const worker = async () => {
    while (next < rows.length) {
      const index = next++;
      results[index] = await runRow(rows[index]!, env);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  await bystander.stop();
  return { results, bystander: { ok: bystander.ok, wrong: bystander.wrong } };
}
