// Redis from the benchmark's side: is it reachable (which version, which pid), what the keys of one
// namespace cost (`MEMORY USAGE … SAMPLES 0`, encoding, body length), and deleting that
// namespace's keys at the end (SCAN + DEL of `<ns>:*` only, never FLUSHALL).
import { createClient, RESP_TYPES } from '@redis/client';
import { ENTRY_HEADER_BYTES, entryBodyLength } from '../src/store/redis/record.js';

const newClient = (url: string, timeoutMs: number) => createClient({ url, socket: { connectTimeout: timeoutMs, reconnectStrategy: false } });
type Client = ReturnType<typeof newClient>;

export interface KeyCost {
  key: string;
  type: string;
  encoding: string;
  /** MEMORY USAGE with SAMPLES 0 (every nested value counted), in bytes. */
  bytes: number;
  /** Length of the raw response body in an entry record (src/store/redis/record.ts), if it is one. */
  bodyBytes: number | undefined;
}

export class BenchRedis {
  private constructor(
    private readonly client: Client,
    readonly version: string,
    /** redis-server's pid as it reports it (only meaningful when it runs on this machine). */
    readonly pid: number | undefined,
  ) {}

  /** Connects once, without retrying: a Redis that is not there is reported, not waited for. */
  static async connect(url: string, timeoutMs = 2000): Promise<BenchRedis> {
    const client = newClient(url, timeoutMs);
    let lastError: Error | undefined;
    client.on('error', (error: Error) => (lastError = error));
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.connect(),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs))),
      ]);
      const info = await client.info('server');
      const version = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
      const pid = Number(/process_id:(\d+)/.exec(info)?.[1]) || undefined;
      return new BenchRedis(client, version, pid);
    } catch (error) {
      destroy(client);
      throw lastError ?? error;
    } finally {
      clearTimeout(timer);
    }
  }

  async keys(namespace: string): Promise<string[]> {
    const found: string[] = [];
    let cursor = '0';
    do {
      const page = await this.client.scan(cursor, { MATCH: `${globEscape(namespace)}:*`, COUNT: 1000 });
      cursor = String(page.cursor);
      found.push(...page.keys.map(String));
    } while (cursor !== '0');
    return found.sort();
  }

  async cost(key: string): Promise<KeyCost> {
    const [bytes, type, encoding] = await Promise.all([
      this.client.sendCommand(['MEMORY', 'USAGE', key, 'SAMPLES', '0']),
      this.client.type(key),
      this.client.sendCommand(['OBJECT', 'ENCODING', key]),
    ]);
    return { key, type: String(type), encoding: String(encoding), bytes: Number(bytes ?? 0), bodyBytes: type === 'string' ? await this.bodyBytes(key) : undefined };
  }

  private async bodyBytes(key: string): Promise<number | undefined> {
    const [header, length] = await Promise.all([
      this.client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer }).getRange(key, 0, ENTRY_HEADER_BYTES - 1),
      this.client.strLen(key),
    ]);
    return header ? entryBodyLength(header, length) : undefined;
  }

  /** Deletes every key under `<namespace>:` and nothing else; returns how many. */
  async clean(namespace: string): Promise<number> {
    const keys = await this.keys(namespace);
    for (let i = 0; i < keys.length; i += 500) await this.client.del(keys.slice(i, i + 500));
    return keys.length;
  }

  close(): void {
    destroy(this.client);
  }
}

/** node-redis throws "The client is closed" when destroying a client whose connect failed. */
function destroy(client: Client): void {
  try {
    client.destroy();
  } catch {
    // already closed
  }
}

function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
