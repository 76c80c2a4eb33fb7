/**
 * The routing benchmark's chart as a hand-written SVG (no charting dependency): per strategy one group of three
 * bars, TTFT p50 and p90 against the left axis (ms) and the prefix-cache hit rate against the right axis (%).
 * Each strategy is one `<g class="strategy" data-strategy="...">`, so tests (and people) can find it.
 *
 * @module
 */
import type { StrategyResult } from "./routing-report";

const WIDTH = 900;
const HEIGHT = 440;
const M = { left: 70, right: 70, top: 60, bottom: 90 };
const COLORS = { p50: "#4e79a7", p90: "#a0cbe8", hit: "#f28e2b" } as const;

/** Escape text for XML content and attribute values. */
export function xmlEscape(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A "nice" axis maximum (1, 2 or 5 × 10^k) at or above `x`. */
function niceMax(x: number): number {
  if (!(x > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

const f1 = (x: number): string => x.toFixed(1);

/** The SVG document for `results`; `title` and `subtitle` go on top (workload, fleet, machine). */
export function routingChartSvg(results: readonly StrategyResult[], title: string, subtitle: string): string {
  const plotW = WIDTH - M.left - M.right;
  const plotH = HEIGHT - M.top - M.bottom;
  const yMax = niceMax(Math.max(1, ...results.map((r) => r.ttftMs.p90)));
  const yOf = (v: number, max: number): number => M.top + plotH - (Math.min(v, max) / max) * plotH;
  const out: string[] = [
    // loopback-check: not-dialled (the SVG namespace name)
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">${xmlEscape(title)}</text>`,
    `<text x="${WIDTH / 2}" y="40" text-anchor="middle" fill="#555">${xmlEscape(subtitle)}</text>`,
  ];
  // Axes and gridlines: 5 ticks, TTFT on the left, hit rate on the right.
  for (let i = 0; i <= 5; i++) {
    const y = M.top + plotH - (i / 5) * plotH;
    out.push(
      `<line x1="${M.left}" y1="${f1(y)}" x2="${M.left + plotW}" y2="${f1(y)}" stroke="#ddd"/>`,
      `<text x="${M.left - 6}" y="${f1(y + 4)}" text-anchor="end">${((yMax * i) / 5).toFixed(0)}</text>`,
      `<text x="${M.left + plotW + 6}" y="${f1(y + 4)}">${i * 20}%</text>`,
    );
  }
  out.push(
    `<text transform="translate(18 ${M.top + plotH / 2}) rotate(-90)" text-anchor="middle">TTFT (ms)</text>`,
    `<text transform="translate(${WIDTH - 14} ${M.top + plotH / 2}) rotate(90)" text-anchor="middle">prefix-cache hit rate</text>`,
  );
  const slot = plotW / Math.max(1, results.length);
  const bar = Math.min(28, (slot * 0.75) / 3);
  results.forEach((r, i) => {
    const x0 = M.left + i * slot + (slot - 3 * bar) / 2;
    const bars: [keyof typeof COLORS, number, number, string][] = [
      ["p50", r.ttftMs.p50, yMax, `TTFT p50 ${r.ttftMs.p50.toFixed(0)} ms`],
      ["p90", r.ttftMs.p90, yMax, `TTFT p90 ${r.ttftMs.p90.toFixed(0)} ms`],
      ["hit", r.hitRate, 1, `hit rate ${(100 * r.hitRate).toFixed(1)}%`],
    ];
    out.push(`<g class="strategy" data-strategy="${xmlEscape(r.strategy)}">`);
    bars.forEach(([kind, v, max, label], j) => {
      const y = yOf(v, max);
      out.push(
        `<rect class="${kind}" x="${f1(x0 + j * bar)}" y="${f1(y)}" width="${f1(bar - 2)}" height="${f1(M.top + plotH - y)}" fill="${COLORS[kind]}"><title>${xmlEscape(`${r.strategy}: ${label}`)}</title></rect>`,
      );
    });
    const cx = M.left + i * slot + slot / 2;
    out.push(
      // 10 px so six labels like "prefix-cache (precise)" fit side by side in 900 px.
      `<text x="${f1(cx)}" y="${M.top + plotH + 18}" text-anchor="middle" font-size="10">${xmlEscape(r.strategy)}</text>`,
      `<text x="${f1(cx)}" y="${M.top + plotH + 34}" text-anchor="middle" font-size="10" fill="#555">${(100 * r.hitRate).toFixed(0)}% hit, p90 ${r.ttftMs.p90.toFixed(0)} ms</text>`,
      "</g>",
    );
  });
  const legend: [keyof typeof COLORS, string][] = [
    ["p50", "TTFT p50 (left)"],
    ["p90", "TTFT p90 (left)"],
    ["hit", "hit rate (right)"],
  ];
  legend.forEach(([kind, label], i) => {
    const x = M.left + i * 170;
    const y = HEIGHT - 24;
    out.push(
      `<rect x="${x}" y="${y - 10}" width="12" height="12" fill="${COLORS[kind]}"/>`,
      `<text x="${x + 18}" y="${y}">${label}</text>`,
    );
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
