// Requests through the proxy exactly as clients send them: absolute-form over a plain TCP
// connection to the proxy (node:http with the proxy as host), raw bytes for malformed input,
// and CONNECT for tunnels.
import http from 'node:http';
import net from 'node:net';

export interface ProxiedResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
}

export const keepAliveAgent = new http.Agent({ keepAlive: true, maxSockets: 512 });

export function viaProxy(
  proxyUrl: string,
  target: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer | string; agent?: http.Agent } = {},
): Promise<ProxiedResponse> {
  const proxy = new URL(proxyUrl);
  const url = new URL(target);
  // node frames a body with neither field only for methods it expects bodies on (not DELETE/OPTIONS).
  const framing =
    options.body !== undefined && !Object.keys(options.headers ?? {}).some((name) => /^(content-length|transfer-encoding)$/i.test(name))
      ? { 'content-length': String(Buffer.byteLength(options.body)) }
      : {};
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: proxy.hostname,
      port: proxy.port,
      method: options.method ?? 'GET',
      path: url.href,
      headers: { host: url.host, ...framing, ...options.headers },
      agent: options.agent ?? keepAliveAgent,
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Send raw bytes to the proxy and collect everything it answers until it closes (or ms pass). */
export function rawRequest(proxyUrl: string, text: string, ms = 2000): Promise<string> {
  const proxy = new URL(proxyUrl);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(proxy.port), proxy.hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), ms);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    socket.on('error', reject);
    socket.write(text);
  });
}
