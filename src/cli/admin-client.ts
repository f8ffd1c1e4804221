// The admin API as the CLI's subcommands see it (policy, rules, parents, stats, purge, changes):
// the connection options (--admin-url, --admin-token), one request with its errors turned into
// AdminCommandError, and how a subcommand prints its result or its failure. What each route
// means is the subcommand's business.
import type { Argv } from 'yargs';

export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:8081';
const REQUEST_TIMEOUT_MS = 10_000;

export interface ConnectionArgs {
  'admin-url': string;
  'admin-token'?: string;
}

/** A failure to report on stderr: usage mistakes, an unreachable admin API, a non-2xx answer. */
export class AdminCommandError extends Error {}

export function withConnection<T>(y: Argv<T>): Argv<T & ConnectionArgs> {
  return y
    .option('admin-url', {
      type: 'string',
      default: process.env['ETAG_PROXY_ADMIN_URL'] ?? DEFAULT_ADMIN_URL,
      describe: 'admin API of a running proxy (started with --admin-port); also ETAG_PROXY_ADMIN_URL',
    })
    .option('admin-token', {
      type: 'string',
      describe: 'bearer token of the admin API (the proxy\'s --admin-token); also ETAG_PROXY_ADMIN_TOKEN',
    }) as Argv<T & ConnectionArgs>;
}

/** What an admin subcommand prints: the admin API's JSON with --json, else its own text. */
export function shown<T>(json: boolean | undefined, value: T, format: (value: T) => string): string {
  return json ? JSON.stringify(value, null, 2) : format(value);
}

export async function call(args: ConnectionArgs, method: string, path: string, body?: unknown): Promise<unknown> {
  const base = args['admin-url'].replace(/\/+$/, '');
  const token = args['admin-token'] ?? process.env['ETAG_PROXY_ADMIN_TOKEN'];
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method,
      headers: {
        accept: 'application/json',
        ...(body !== undefined && { 'content-type': 'application/json' }),
        ...(token && { authorization: `Bearer ${token}` }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (error) {
    const cause = (error as Error & { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (error as Error).message;
    throw new AdminCommandError(`cannot reach the admin API at ${base} (${why}); is the proxy running with --admin-port, and is --admin-url right?`);
  }
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON (a different server on that port?): report the text as it came.
  }
  if (!res.ok) {
    const reason = typeof parsed === 'object' && parsed !== null && 'error' in parsed ? String(parsed.error) : text.trim();
    throw new AdminCommandError(`${method} ${path}: ${res.status} ${reason}`);
  }
  return parsed;
}

/**
 * Run a subcommand's action: the text it returns is printed as a line on stdout; an
 * AdminCommandError becomes `etag-proxy <command>: <message>` on stderr and exit code 1.
 */
export async function runAdminCommand(command: string, action: () => Promise<string | void>): Promise<void> {
  try {
    const text = await action();
    if (text !== undefined) process.stdout.write(`${text}\n`);
  } catch (error) {
    if (!(error instanceof AdminCommandError)) throw error;
    process.stderr.write(`etag-proxy ${command}: ${error.message}\n`);
    process.exitCode = 1;
  }
}

/** Rows as columns two spaces apart, each as wide as its widest cell (the first row is the heading). */
export function formatTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => r[col]!.length)));
  return rows.map((r) => r.map((cell, col) => cell.padEnd(widths[col]!)).join('  ').trimEnd()).join('\n');
}
