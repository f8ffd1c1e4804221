// `etag-proxy changes [url] [--since T] [--follow] [--host H] [--prefix P] [--json]`: the change
// history of a running proxy (GET /changes), or, with --follow, its Server-Sent Events stream
// (GET /changes/stream) printed as they come, reconnecting with Last-Event-ID when cut. A URL's
// history ends with when it was last checked and how often a check found it unchanged.
import type { Argv, CommandModule } from 'yargs';
import type { ChangeEvent, CheckSummary } from '../store/types.js';
import { AdminCommandError, call, runAdminCommand, withConnection, type ConnectionArgs } from './admin-client.js';
import { formatBytes } from './stats-command.js';

interface ChangesArgs extends ConnectionArgs {
  url?: string;
  since?: string;
  follow?: boolean;
  host?: string;
  prefix?: string;
  json?: boolean;
}

export function formatChange(event: ChangeEvent, json = false): string {
  if (json) return JSON.stringify(event);
  const tag = (side: ChangeEvent['old']) => side.etag ?? side.lastModified ?? side.digest.slice(0, 20);
  return `${new Date(event.time).toISOString()}  ${event.url}  ${tag(event.old)} → ${tag(event.new)}  ${formatBytes(event.size)}${event.client ? `  client ${event.client}` : ''}`;
}

/** `last checked 2026-12-01T21:45:00.000Z, unchanged 12 times` (revalidations that found no change). */
export function formatChecks(checks: CheckSummary): string {
  return `last checked ${new Date(checks.lastChecked!).toISOString()}, unchanged ${checks.unchanged} time${checks.unchanged === 1 ? '' : 's'}`;
}

async function follow(args: ChangesArgs): Promise<void> {
  const base = args['admin-url'].replace(/\/+$/, '');
  const token = args['admin-token'] ?? process.env['ETAG_PROXY_ADMIN_TOKEN'];
  const query = new URLSearchParams();
  if (args.host !== undefined) query.set('host', args.host);
  if (args.prefix !== undefined) query.set('prefix', args.prefix);
  let lastId: string | undefined;
  for (let attempt = 0; ; attempt++) {
    let res: Response;
    try {
      res = await fetch(`${base}/changes/stream?${query}`, {
        headers: { accept: 'text/event-stream', ...(token && { authorization: `Bearer ${token}` }), ...(lastId && { 'last-event-id': lastId }) },
      });
    } catch (error) {
      if (attempt === 0) throw new AdminCommandError(`cannot reach the admin API at ${base} (${(error as Error).message}); is the proxy running with --admin-port?`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      continue;
    }
    if (!res.ok || !res.body) {
      const text = await res.text();
      let reason = text.trim();
      try {
        reason = String((JSON.parse(text) as { error?: unknown }).error ?? reason);
      } catch {
        // not JSON: as it came
      }
      throw new AdminCommandError(`GET /changes/stream: ${res.status} ${reason}`);
    }
    if (lastId === undefined) process.stderr.write(`following changes at ${base} (Ctrl-C to stop)\n`);
    attempt = 0;
    let buffer = '';
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const lines = block.split('\n');
          const data = lines.find((line) => line.startsWith('data: '));
          const id = lines.find((line) => line.startsWith('id: '));
          if (id) lastId = id.slice(4);
          if (!data) continue;
          // The proxy gave up on this stream (it was not read fast enough): say why, then resume.
          if (lines.includes('event: dropped')) process.stderr.write(`stream dropped by the proxy: ${String((JSON.parse(data.slice(6)) as { reason?: unknown }).reason)}; resuming\n`);
          else process.stdout.write(`${formatChange(JSON.parse(data.slice(6)) as ChangeEvent, args.json)}\n`);
        }
      }
    } catch {
      // cut: reconnect below, resuming after the last id seen
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

export const changesCommand: CommandModule<object, ChangesArgs> = {
  command: 'changes [url]',
  describe: 'show ETag changes the proxy saw: one URL\'s history, the fleet\'s since a time, or --follow them live',
  builder: (y) =>
    withConnection(y)
      .positional('url', { type: 'string', describe: 'absolute URL whose history to show' })
      .option('since', { type: 'string', describe: 'changes since this time (ISO 8601 or epoch ms; default: the last hour)' })
      .option('follow', { type: 'boolean', describe: 'print new changes as they come (Server-Sent Events)' })
      .option('host', { type: 'string', describe: 'with --follow: only this host' })
      .option('prefix', { type: 'string', describe: 'with --follow: only URLs starting with this' })
      .option('json', { type: 'boolean', describe: 'one JSON event per line' })
      .example('$0 changes http://example.com/feed', '')
      .example('$0 changes --follow --host example.com', '') as Argv<ChangesArgs>,
  handler: (args) =>
    runAdminCommand('changes', async () => {
      if (args.follow) return follow(args);
      let changes: ChangeEvent[];
      let checks: CheckSummary | undefined;
      if (args.url !== undefined) {
        const history = (await call(args, 'GET', `/changes?url=${encodeURIComponent(args.url)}`)) as { changes: ChangeEvent[] } & Partial<CheckSummary>;
        changes = history.changes;
        if (history.lastChecked != null) checks = { lastChecked: history.lastChecked, unchanged: history.unchanged ?? 0 };
      } else {
        const since = args.since ?? String(Date.now() - 3600_000);
        changes = ((await call(args, 'GET', `/changes?since=${encodeURIComponent(since)}&limit=1000`)) as { changes: ChangeEvent[] }).changes;
      }
      for (const event of changes) process.stdout.write(`${formatChange(event, args.json)}\n`);
      if (!changes.length && !args.json) process.stderr.write('no changes\n');
      if (checks && !args.json) process.stdout.write(`${formatChecks(checks)}\n`);
    }),
};
