// `etag-proxy purge URL | --prefix P | --host H`: DELETE /cache on a running proxy's admin API.
// A prefix or host purge goes page by page (?cursor=), so on a terminal a progress line shows
// what has been walked and removed so far; the final count goes to stdout.
import type { Argv, CommandModule } from 'yargs';
import { AdminCommandError, call, runAdminCommand, withConnection, type ConnectionArgs } from './admin-client.js';

interface PurgeArgs extends ConnectionArgs {
  url?: string;
  prefix?: string;
  host?: string;
}

interface Page {
  cursor: string;
  scanned: number;
  purged: number;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

async function purgeAll(args: PurgeArgs, query: string): Promise<string> {
  const progress = process.stderr.isTTY ? (text: string) => process.stderr.write(`\r\x1b[K${text}`) : undefined;
  let cursor = '0';
  let scanned = 0;
  let purged = 0;
  do {
    const page = (await call(args, 'DELETE', `/cache?${query}&cursor=${encodeURIComponent(cursor)}`)) as Page;
    ({ cursor } = page);
    scanned += page.scanned;
    purged += page.purged;
    progress?.(`purging: ${plural(scanned, 'stored URL')} looked at, ${purged} removed…`);
  } while (cursor !== '0');
  if (progress) process.stderr.write('\r\x1b[K');
  return `purged ${plural(purged, 'URL')} (${plural(scanned, 'stored URL')} looked at)`;
}

export const purgeCommand: CommandModule<object, PurgeArgs> = {
  command: 'purge [url]',
  describe: 'remove stored responses: one URL (every variant), or every URL under --prefix or of --host',
  builder: (y) =>
    withConnection(y)
      .positional('url', { type: 'string', describe: 'absolute URL to remove' })
      .option('prefix', { type: 'string', describe: 'remove every stored URL starting with this (http://host/path…)' })
      .option('host', { type: 'string', describe: 'remove every stored URL of this host (host or host:port)' })
      .example('$0 purge http://example.com/page', '')
      .example('$0 purge --prefix http://example.com/api/', '')
      .example('$0 purge --host example.com', '') as Argv<PurgeArgs>,
  handler: (args) =>
    runAdminCommand('purge', async () => {
      const given = [args.url, args.prefix, args.host].filter((v) => v !== undefined);
      if (given.length !== 1) throw new AdminCommandError('give one of: a URL, --prefix <URL prefix>, --host <host>');
      if (args.url !== undefined) {
        const answer = (await call(args, 'DELETE', `/cache?url=${encodeURIComponent(args.url)}`)) as { purged: number; variants: number };
        return answer.purged ? `purged ${args.url} (${plural(answer.variants, 'variant')})` : `nothing stored for ${args.url}`;
      }
      return purgeAll(args, args.prefix !== undefined ? `prefix=${encodeURIComponent(args.prefix)}` : `host=${encodeURIComponent(args.host!)}`);
    }),
};
