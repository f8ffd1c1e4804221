// --watch: URLs the proxy revalidates itself on an interval, as the internal client "watch",
// through its own pipeline (internal-client.ts): the stored validators go upstream, so an
// unchanged page costs one 304 (counted as checked, unchanged) and a new one is an event in the
// change feed, exactly as if a poller had asked. Polite by construction: each interval is
// jittered ±10 %, the URLs of one host start spread over their interval, and a host never has
// more than one watch request in flight, nor the watcher more than WATCH_MAX_IN_FLIGHT in all.
// What a check may reach is the guard's decision, as for any request: a refused destination is
// logged once and no longer watched.
import type { ProxyConfig, WatchedUrl } from '../config/types.js';
import type { Proxy } from '../index.js';
import { requestThroughProxy, type InternalAnswer } from './internal-client.js';
import type { LogFields, Logger } from './log.js';
import { redactUrl } from './redact.js';

/** The client id of the watcher's requests (change events, logs, per-client policies). */
export const WATCH_CLIENT = 'watch';
const JITTER = 0.1;
/**
 * Checks in flight across all hosts: each holds one of the proxy's connections (--max-connections)
 * and an origin socket for up to --upstream-timeout, so thousands of watched hosts must queue.
 */
export const WATCH_MAX_IN_FLIGHT = 64;
/** node's timers hold at most 2^31-1 ms; a longer delay fires after 1 ms (TimeoutOverflowWarning). */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Watched {
  url: URL;
  everyMs: number;
  timer?: NodeJS.Timeout;
  /** The last check failed; logged once until one succeeds again. */
  failing: boolean;
}

interface HostQueue {
  busy: boolean;
  waiting: Watched[];
}

export interface Watcher {
  /** URLs watched (a refused one leaves the list). */
  readonly size: number;
  /** Clear every timer; resolves once checks in flight have ended (shutdown cuts their connections). */
  stop(): Promise<void>;
}

/** Start watching `config.watch`; nothing happens for an empty list. */
export function startWatcher(proxy: Proxy, config: Pick<ProxyConfig, 'watch' | 'watchEveryMs' | 'upstreamTimeoutMs'>, logger: Logger, random: () => number = Math.random): Watcher {
  const watched = new Set<Watched>();
  const hosts = new Map<string, HostQueue>();
  const inFlight = new Set<Promise<void>>();
  /** Due, their host free, waiting for one of the WATCH_MAX_IN_FLIGHT slots. */
  const ready: Watched[] = [];
  let stopped = false;

  const jittered = (ms: number) => Math.round(ms * (1 - JITTER + 2 * JITTER * random()));
  const schedule = (item: Watched, delayMs: number) => {
    if (stopped || !watched.has(item)) return;
    item.timer = setTimeout(() => due(item), Math.min(delayMs, MAX_TIMER_MS));
    item.timer.unref();
  };
  const due = (item: Watched) => {
    item.timer = undefined;
    const queue = hosts.get(item.url.host)!;
    if (queue.busy) {
      if (!queue.waiting.includes(item)) queue.waiting.push(item);
      return;
    }
    if (inFlight.size >= WATCH_MAX_IN_FLIGHT) return void ready.push(item);
    run(item, queue);
  };
  const run = (item: Watched, queue: HostQueue) => {
    if (stopped) return;
    queue.busy = true;
    const job = check(item).finally(() => {
      inFlight.delete(job);
      queue.busy = false;
      // The next interval counts from the end of this check, so a slow origin is never piled on.
      schedule(item, jittered(item.everyMs));
      const next = queue.waiting.shift();
      if (next) return run(next, queue);
      // The slot is free: the longest-waiting URL gets it (to its host's queue if that is busy now).
      while (!stopped && inFlight.size < WATCH_MAX_IN_FLIGHT && ready.length) due(ready.shift()!);
    });
    inFlight.add(job);
  };

  const check = async (item: Watched): Promise<void> => {
    const url = redactUrl(item.url.href);
    // The pipeline answers a URL of this proxy's own port with its help page: never a destination.
    if (proxy.ctx.isSelf(item.url)) return refuse(item, url, `${item.url.host} is this proxy's own listener`);
    let answer: InternalAnswer;
    try {
      // no-cache: revalidate even a fresh entry, with the validators it holds (RFC 9111 §5.2.1.4).
      answer = await requestThroughProxy(proxy, item.url, { clientId: WATCH_CLIENT, headers: { 'cache-control': 'no-cache' }, timeoutMs: config.upstreamTimeoutMs + 5000 });
    } catch (error) {
      return failed(item, { url, error: (error as Error).message });
    }
    const proxyError = /^(\d{3}) ([a-z_]+): (.*)/.exec(answer.errorText);
    if (answer.status === 403 && proxyError?.[2] === 'destination_forbidden') return refuse(item, url, proxyError[3]);
    if (answer.status >= 500 || proxyError) return failed(item, { url, status: answer.status, ...(proxyError && { error: proxyError[2] }) });
    if (item.failing) logger.info('watch: checks succeed again', { url, status: answer.status });
    item.failing = false;
  };
  const refuse = (item: Watched, url: string, reason: string | undefined) => {
    watched.delete(item);
    logger.warn('watch: destination refused; no longer watched', { url, reason });
  };
  const failed = (item: Watched, fields: LogFields) => {
    if (!item.failing) logger.warn('watch: check failed; retrying every interval', fields);
    item.failing = true;
  };

  // Spread each host's URLs over their interval; other hosts start independently.
  const byHost = new Map<string, WatchedUrl[]>();
  for (const entry of config.watch) {
    const host = new URL(entry.url).host;
    const list = byHost.get(host);
    if (list) list.push(entry);
    else byHost.set(host, [entry]);
  }
  for (const [host, entries] of byHost) {
    hosts.set(host, { busy: false, waiting: [] });
    entries.forEach((entry, i) => {
      const item: Watched = { url: new URL(entry.url), everyMs: entry.everyMs ?? config.watchEveryMs, failing: false };
      watched.add(item);
      schedule(item, Math.round((item.everyMs * i) / entries.length + JITTER * item.everyMs * random()));
    });
  }
  if (watched.size) logger.info('watching', { urls: watched.size, hosts: hosts.size, every: shortDuration(config.watchEveryMs), client: WATCH_CLIENT });

  return {
    get size() {
      return watched.size;
    },
    async stop() {
      stopped = true;
      for (const item of watched) clearTimeout(item.timer);
      for (const queue of hosts.values()) queue.waiting.length = 0;
      ready.length = 0;
      await Promise.allSettled([...inFlight]);
    },
  };
}

/** 300000 → "5m", 1500 → "1500ms": the way --watch-every is written. */
export function shortDuration(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
