// The status page's chart: requests per second by outcome over the last minutes as one SVG of
// stacked bars (a column per second), drawn on the server from the rate history so the page
// needs no chart library. Pure: history in, SVG text out; every text in it is escaped.
import type { Outcome } from '../observe/counters.js';
import type { RateHistoryJson } from '../observe/rate-history.js';
import { escapeHtml } from './status-html.js';

/** One colour per outcome, in the order of OUTCOMES (hits green, origin trips blue, failures red). */
export const OUTCOME_COLOURS: Record<Outcome, string> = {
  hit: '#2e9d4f',
  miss: '#3a6fd8',
  'revalidated-304': '#7fc97f',
  'revalidated-200': '#8fb3f0',
  stale: '#e0a526',
  collapsed: '#1b6b35',
  bypass: '#9a9a9a',
  error: '#d63b3b',
};

const WIDTH = 600;
const HEIGHT = 160;
const LEGEND = 36;
/** Seconds shown: 3 minutes, a column of 600 / 180 px a second (the history keeps 10). */
export const CHART_SECONDS = 180;

/** A round number at or above `n` for the y axis (1, 2, 5, 10, 20, 50, …). */
function niceCeiling(n: number): number {
  if (n <= 1) return 1;
  const power = 10 ** Math.floor(Math.log10(n));
  for (const step of [1, 2, 5, 10]) if (step * power >= n) return step * power;
  return 10 * power;
}

export function rateChartSvg(history: RateHistoryJson, now: number): string {
  const column = WIDTH / CHART_SECONDS;
  const points = history.points.filter((p) => p.time > now - CHART_SECONDS * 1000);
  const peak = niceCeiling(Math.max(0, ...points.map((p) => history.outcomes.reduce((n, o) => n + p.counts[o], 0))));
  const bars: string[] = [];
  for (const point of points) {
    const x = WIDTH - ((now - point.time) / 1000) * column;
    let y = HEIGHT;
    for (const outcome of history.outcomes) {
      const count = point.counts[outcome];
      if (count <= 0) continue;
      const h = (count / peak) * HEIGHT;
      y -= h;
      bars.push(`<rect x="${(x - column).toFixed(1)}" y="${y.toFixed(1)}" width="${column.toFixed(1)}" height="${h.toFixed(1)}" fill="${OUTCOME_COLOURS[outcome]}"/>`);
    }
  }
  const legend = history.outcomes
    .map((outcome, i) => {
      const x = 4 + (i % 4) * 150;
      const y = HEIGHT + 14 + Math.floor(i / 4) * 16;
      return `<rect x="${x}" y="${y - 9}" width="10" height="10" fill="${OUTCOME_COLOURS[outcome]}"/><text x="${x + 14}" y="${y}">${escapeHtml(outcome)}</text>`;
    })
    .join('');
  const total = points.reduce((n, p) => n + history.outcomes.reduce((m, o) => m + p.counts[o], 0), 0);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT + LEGEND}" viewBox="0 0 ${WIDTH} ${HEIGHT + LEGEND}" font-family="sans-serif" font-size="11" role="img">`,
    `<title>Requests per second by outcome, last ${CHART_SECONDS / 60} minutes (${total} requests)</title>`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#f6f7f9"/>`,
    `<line x1="0" y1="0.5" x2="${WIDTH}" y2="0.5" stroke="#ccc"/><text x="${WIDTH - 4}" y="12" text-anchor="end" fill="#555">${peak}/s</text>`,
    `<text x="4" y="${HEIGHT - 4}" fill="#555">-${CHART_SECONDS / 60} min</text><text x="${WIDTH - 4}" y="${HEIGHT - 4}" text-anchor="end" fill="#555">now</text>`,
    ...bars,
    legend,
    '</svg>',
  ].join('');
}
