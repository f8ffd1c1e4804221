// A minimal EventSource for the change stream tests: collects events until closed. Each
// subscription has its own connection (agent: false), so consecutive ones can reach different
// --workers processes.
import http from 'node:http';
import type { ChangeEvent } from '../../src/store/types.js';

export interface SseEvent {
  id: string;
  event: string;
  data: ChangeEvent;
  /** When it arrived (Date.now()). */
  at: number;
}

export function subscribe(url: string, headers: Record<string, string> = {}) {
  const events: SseEvent[] = [];
  let request!: http.ClientRequest;
  const ready = new Promise<number>((resolve, reject) => {
    request = http.get(url, { headers, agent: false }, (res) => {
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields = Object.fromEntries(block.split('\n').filter((l) => !l.startsWith(':') && l.includes(': ')).map((l) => [l.slice(0, l.indexOf(': ')), l.slice(l.indexOf(': ') + 2)]));
          if (fields['data']) events.push({ id: fields['id'] ?? '', event: fields['event'] ?? 'message', data: JSON.parse(fields['data']) as ChangeEvent, at: Date.now() });
        }
      });
      res.on('error', () => {});
      resolve(res.statusCode ?? 0);
    });
    request.on('error', reject);
  });
  return { events, ready, close: () => request.destroy() };
}
