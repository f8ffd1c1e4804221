// The status page's HTML: one server-rendered document (no front-end framework) with the
// numbers since start, the chart (status-chart.ts, as an image the page reloads), the top
// hosts, the parent pools, the rules in force and the latest ETag changes, plus a small script
// that polls /stats (numbers, hosts, pools) and follows /changes/stream. URLs, hosts, client ids and rule globs come from clients and
// origins: everything is escaped here, and the script only ever sets textContent.
import type { Stats } from '../observe/stats.js';
import type { CrawlRule } from '../policy/crawl-rules.js';
import type { PolicyRules, RuleSettings } from '../policy/rules.js';
import type { ChangeEvent } from '../store/types.js';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: unknown): string {
  return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

// Shared with the page's script (injected with Function.prototype.toString), so the numbers read
// the same before and after the first update. Self-contained on purpose.
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

export function formatRatio(ratio: number | null): string {
  return ratio === null ? '–' : `${(ratio * 100).toFixed(1)}%`;
}

export function topHosts(hosts: Record<string, Record<string, number>> | undefined, limit: number): Array<[string, number]> {
  const totals: Array<[string, number]> = Object.entries(hosts ?? {}).map(([host, byOutcome]) => [host, Object.values(byOutcome).reduce((a, b) => a + b, 0)]);
  return totals.filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]).slice(0, limit);
}

export interface StatusView {
  stats: Stats & { processes: number };
  rules: PolicyRules;
  flags: RuleSettings;
  crawlRules: readonly CrawlRule[];
  /** Newest first. */
  changes: ChangeEvent[];
  /** false: the store keeps no change history. */
  changeHistory: boolean;
  /** --metrics-top-hosts; 0 = no per-host numbers to show. */
  topHostsLimit: number;
  startedAt: number;
  nonce: string;
}

export const HOSTS_SHOWN = 10;
export const CHANGES_SHOWN = 20;

const settings = (rule: RuleSettings): string =>
  [rule.validators && `validators=${rule.validators}`, rule.requestCacheControl && `requestCacheControl=${rule.requestCacheControl}`, rule.offline && 'offline']
    .filter(Boolean)
    .join(' ') || '–';

function rulesRows(view: StatusView): string {
  const rows: Array<[string, string]> = [
    ...view.rules.clients.map((r): [string, string] => [`client ${r.match}`, settings(r)]),
    ...view.rules.hosts.map((r): [string, string] => [`host ${r.match}`, settings(r)]),
    ['default', settings(view.rules.default)],
    ['flags', settings(view.flags)],
    ...view.crawlRules.map((r, i): [string, string] => [`rules[${i}] ${JSON.stringify(r.match)}`, JSON.stringify({ ...r, match: undefined })]),
  ];
  return rows.map(([rule, value]) => `<tr><td>${escapeHtml(rule)}</td><td>${escapeHtml(value)}</td></tr>`).join('');
}

function changeRow(event: ChangeEvent): string {
  const tag = (r: ChangeEvent['old']) => r.etag ?? r.lastModified ?? r.digest.slice(0, 16);
  return `<tr><td>${escapeHtml(new Date(event.time).toISOString())}</td><td class="url">${escapeHtml(event.url)}</td><td>${escapeHtml(tag(event.old))} → ${escapeHtml(tag(event.new))}</td><td>${escapeHtml(formatBytes(event.size))}</td><td>${escapeHtml(event.client ?? '')}</td></tr>`;
}

// Shared with the page's script like formatBytes (it calls it), so the parent pools table reads
// the same at page load and after each poll of /stats. One row per pool, then one per parent
// under it; a pool's avoided bytes include its hits, a parent's only the 304s it carried.
export function poolTableRows(parents: Stats['parents']): string[][] {
  const money = (amount: number | undefined, price: number | undefined) => (amount === undefined ? '–' : `${amount.toFixed(2)} at ${price}/GB`);
  const rows: string[][] = [];
  for (const [name, pool] of Object.entries(parents ?? {})) {
    rows.push([name, String(pool.requests), String(pool.notModified), `${pool.errors} / ${pool.bans}`, formatBytes(pool.sentBytes), formatBytes(pool.receivedBytes), `${pool.avoidedRequests} requests, ${formatBytes(pool.avoidedBytes)}`, money(pool.moneySaved, pool.pricePerGB)]);
    for (const [label, parent] of Object.entries(pool.byParent)) {
      rows.push([`↳ ${label}`, String(parent.requests), String(parent.notModified), `${parent.errors} / ${parent.bans}`, formatBytes(parent.sentBytes), formatBytes(parent.receivedBytes), `${formatBytes(parent.notModifiedAvoidedBytes)} by 304s`, money(parent.moneySaved, pool.pricePerGB)]);
    }
  }
  return rows;
}

/** Parent pools (src/parents): what each pool and parent carried and what the cache saved it. */
function poolsSection(stats: StatusView['stats']): string {
  const rows = poolTableRows(stats.parents);
  if (!rows.length) return '';
  const body = rows.map((cells) => `<tr>${cells.map((cell) => `<td>${escapeHtml(cell)}</td>`).join('')}</tr>`).join('');
  return `<h2>Parent pools</h2>
<table><thead><tr><th>pool / parent</th><th>requests</th><th>304s</th><th>errors / bans</th><th>sent</th><th>received</th><th>avoided</th><th>saved</th></tr></thead><tbody id="pools">${body}</tbody></table>
`;
}

function hostsRows(view: StatusView): string {
  if (view.topHostsLimit === 0) return '<tr><td colspan="2">start the proxy with --metrics-top-hosts N to count requests per host</td></tr>';
  return topHosts(view.stats.hosts, HOSTS_SHOWN)
    .map(([host, n]) => `<tr><td>${escapeHtml(host === 'other' ? '(other hosts)' : host)}</td><td>${n}</td></tr>`)
    .join('');
}

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;max-width:1000px}
h1{font-size:1.3em;margin:0 0 .2em}h2{font-size:1.05em;margin:1.4em 0 .4em}
.numbers{display:flex;gap:1em;flex-wrap:wrap}.numbers div{background:#f6f7f9;padding:.6em 1em;border-radius:6px;min-width:10em}
.numbers b{display:block;font-size:1.6em}table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.2em .6em .2em 0;border-bottom:1px solid #eee;vertical-align:top}
td.url{word-break:break-all}.muted{color:#777}`;

export function statusPageHtml(view: StatusView): string {
  const { stats } = view;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>etag-proxy status</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<style nonce="${view.nonce}">${STYLE}</style></head>
<body>
<h1>etag-proxy</h1>
<p class="muted">up since ${escapeHtml(new Date(view.startedAt).toISOString())} · <span data-stat="processes">${stats.processes}</span> process(es) · updates every 2 s</p>
<div class="numbers">
<div>hit ratio<b data-stat="hitRatio">${escapeHtml(formatRatio(stats.hitRatio))}</b></div>
<div>bandwidth saved<b data-stat="bandwidthSaved">${escapeHtml(formatBytes(stats.bandwidthSavedBytes))}</b></div>
<div>origin requests avoided<b data-stat="originRequestsAvoided">${stats.originRequestsAvoided}</b></div>
<div>requests<b data-stat="requests">${stats.requests}</b></div>
</div>
<h2>Requests per second by outcome</h2>
<img id="chart" src="/status/chart.svg" width="600" height="196" alt="requests per second by outcome, last 3 minutes">
<h2>Top hosts</h2>
<table><thead><tr><th>host</th><th>requests</th></tr></thead><tbody id="hosts">${hostsRows(view)}</tbody></table>
${poolsSection(stats)}<h2>Rules in force</h2>
<table><thead><tr><th>rule</th><th>settings</th></tr></thead><tbody id="rules">${rulesRows(view)}</tbody></table>
<h2>Latest ETag changes <span id="live" class="muted">${view.changeHistory ? '' : '(this store keeps no change history)'}</span></h2>
<table><thead><tr><th>time</th><th>URL</th><th>validator</th><th>size</th><th>client</th></tr></thead><tbody id="changes">${view.changes.map(changeRow).join('')}</tbody></table>
<script nonce="${view.nonce}">${pageScript(view)}</script>
</body></html>
`;
}

function pageScript(view: StatusView): string {
  return `'use strict';
${formatBytes.toString()}
${formatRatio.toString()}
${topHosts.toString()}
${poolTableRows.toString()}
const HOSTS_SHOWN = ${HOSTS_SHOWN}, CHANGES_SHOWN = ${CHANGES_SHOWN}, PER_HOST = ${view.topHostsLimit > 0};
const cell = (text) => { const td = document.createElement('td'); td.textContent = String(text); return td; };
const row = (...texts) => { const tr = document.createElement('tr'); for (const t of texts) tr.append(cell(t)); return tr; };
const setStat = (name, text) => { for (const el of document.querySelectorAll('[data-stat="' + name + '"]')) el.textContent = text; };
async function refresh() {
  try {
    const res = await fetch('/stats', { credentials: 'same-origin', cache: 'no-store' });
    if (!res.ok) return;
    const stats = await res.json();
    setStat('hitRatio', formatRatio(stats.hitRatio));
    setStat('bandwidthSaved', formatBytes(stats.bandwidthSavedBytes));
    setStat('originRequestsAvoided', String(stats.originRequestsAvoided));
    setStat('requests', String(stats.requests));
    setStat('processes', String(stats.processes));
    const pools = document.getElementById('pools');
    if (pools) pools.replaceChildren(...poolTableRows(stats.parents).map((cells) => row(...cells)));
    if (PER_HOST) document.getElementById('hosts').replaceChildren(...topHosts(stats.hosts, HOSTS_SHOWN).map(([h, n]) => row(h === 'other' ? '(other hosts)' : h, n)));
    document.getElementById('chart').src = '/status/chart.svg?t=' + Date.now();
  } catch {}
}
setInterval(refresh, 2000);
if (${view.changeHistory}) {
  const live = document.getElementById('live');
  const tag = (r) => r.etag ?? r.lastModified ?? r.digest.slice(0, 16);
  const source = new EventSource('/changes/stream');
  source.onopen = () => { live.textContent = '(live)'; };
  source.onerror = () => { live.textContent = '(reconnecting…)'; };
  source.addEventListener('change', (message) => {
    const event = JSON.parse(message.data);
    const body = document.getElementById('changes');
    body.prepend(row(new Date(event.time).toISOString(), event.url, tag(event.old) + ' → ' + tag(event.new), formatBytes(event.size), event.client ?? ''));
    body.firstChild.firstChild.nextSibling.className = 'url';
    while (body.children.length > CHANGES_SHOWN) body.lastChild.remove();
  });
}
`;
}
