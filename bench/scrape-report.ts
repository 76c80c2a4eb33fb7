/**
 * Figures of the scrape benchmark: raw per-phase totals turned into rates, the net cost of scraping (phase CPU
 * minus the idle baseline measured in the same run), ratios of the full scraper to the fetch-only loop, and a
 * readable table.
 *
 * @module
 */
import type { ScrapeResult } from "../src/cluster/metrics";

/** The measured phases: nothing running, the scrape loop without parsing, the real scraper. */
export const PHASES = ["idle", "fetch-only", "full"] as const;
export type PhaseName = (typeof PHASES)[number];

/** Raw counters of one phase over its measured slices. */
export interface PhaseTotals {
  wallMs: number;
  /** This (bench) process: user + system µs, and the system part alone. */
  cpuMicros: number;
  systemMicros: number;
  /** The endpoint child process: user + system µs. */
  childCpuMicros: number;
  started: number;
  results: Record<ScrapeResult, number>;
  interpreted: number;
  interpretMicros: number;
  deferredAtBound: number;
  skippedBusy: number;
  /** Pods with fresh metrics at the end of each slice, summed, and the number of slices. */
  freshAtEnd: number;
  slices: number;
  /** Worst slice's event-loop delay beyond the sampling period, ms. */
  eventLoopDelayP99Ms: number;
  eventLoopDelayMaxMs: number;
}

/** One phase, as rates. NaN where a figure does not apply (the idle phase has no scrapes). */
export interface PhaseFigures {
  readonly phase: PhaseName;
  readonly seconds: number;
  readonly scrapesPerSecond: number;
  /** scrapesPerSecond ÷ pods × interval: 1 means every pod was scraped every interval. */
  readonly achievedShare: number;
  readonly ok: number;
  readonly errors: Partial<Record<ScrapeResult, number>>;
  readonly cpuMicrosPerSecond: number;
  /** The kernel's share of it (sockets, epoll, loopback TCP). */
  readonly systemMicrosPerSecond: number;
  /** Minus the idle phase's CPU per second. */
  readonly netCpuMicrosPerSecond: number;
  readonly netCpuMicrosPerPodPerSecond: number;
  readonly netCpuMicrosPerScrape: number;
  /** Parse + catalogue time measured inside the scraper, per body. */
  readonly interpretMicrosPerScrape: number;
  readonly childCpuMicrosPerSecond: number;
  readonly deferredPerSecond: number;
  readonly skippedBusyPerSecond: number;
  readonly freshPodsAtSliceEnd: number;
  readonly eventLoopDelayP99Ms: number;
  readonly eventLoopDelayMaxMs: number;
}

/** The shape of the run, for the title and the JSON. */
export interface RunShape {
  readonly pods: number;
  readonly intervalMs: number;
  readonly concurrency: number;
  readonly timeoutMs: number;
  readonly body: string;
  readonly bodyBytes: number;
  readonly bodySamples: number;
  readonly rounds: number;
  readonly sliceSeconds: number;
}

/** Parse cost measured outside the loop, on one rendered body. */
export interface OfflineParse {
  /** `interpretMetricsBody`: parse (catalogue names kept) + map, µs per body. */
  readonly interpretMicros: number;
  /** `parsePrometheusText` keeping every sample, µs per body. */
  readonly parseAllMicros: number;
}

/** An empty totals record. */
export function emptyTotals(): PhaseTotals {
  return {
    wallMs: 0,
    cpuMicros: 0,
    systemMicros: 0,
    childCpuMicros: 0,
    started: 0,
    results: { ok: 0, "http-error": 0, timeout: 0, "connect-error": 0, "too-large": 0, malformed: 0 },
    interpreted: 0,
    interpretMicros: 0,
    deferredAtBound: 0,
    skippedBusy: 0,
    freshAtEnd: 0,
    slices: 0,
    eventLoopDelayP99Ms: 0,
    eventLoopDelayMaxMs: 0,
  };
}

/** Turn totals into rates; `idle` is the baseline (its own figures use itself). */
export function phaseFigures(
  phase: PhaseName,
  t: PhaseTotals,
  idle: PhaseTotals,
  run: RunShape,
): PhaseFigures {
  const seconds = t.wallMs / 1000;
  const per = (x: number): number => (seconds > 0 ? x / seconds : Number.NaN);
  const scrapes = Object.values(t.results).reduce((a, b) => a + b, 0);
  const scrapesPerSecond = phase === "idle" ? Number.NaN : per(scrapes);
  const idleCpuPerSecond = idle.wallMs > 0 ? idle.cpuMicros / (idle.wallMs / 1000) : Number.NaN;
  const cpuMicrosPerSecond = per(t.cpuMicros);
  const net = phase === "idle" ? Number.NaN : cpuMicrosPerSecond - idleCpuPerSecond;
  const errors: Partial<Record<ScrapeResult, number>> = {};
  for (const [k, v] of Object.entries(t.results) as [ScrapeResult, number][])
    if (k !== "ok" && v > 0) errors[k] = v;
  return {
    phase,
    seconds,
    scrapesPerSecond,
    achievedShare: scrapesPerSecond / ((run.pods * 1000) / run.intervalMs),
    ok: t.results.ok,
    errors,
    cpuMicrosPerSecond,
    systemMicrosPerSecond: per(t.systemMicros),
    netCpuMicrosPerSecond: net,
    netCpuMicrosPerPodPerSecond: net / run.pods,
    netCpuMicrosPerScrape: net / scrapesPerSecond,
    interpretMicrosPerScrape: t.interpreted > 0 ? t.interpretMicros / t.interpreted : Number.NaN,
    childCpuMicrosPerSecond: per(t.childCpuMicros),
    deferredPerSecond: phase === "idle" ? Number.NaN : per(t.deferredAtBound),
    skippedBusyPerSecond: phase === "idle" ? Number.NaN : per(t.skippedBusy),
    freshPodsAtSliceEnd: phase === "full" && t.slices > 0 ? t.freshAtEnd / t.slices : Number.NaN,
    eventLoopDelayP99Ms: t.eventLoopDelayP99Ms,
    eventLoopDelayMaxMs: t.eventLoopDelayMaxMs,
  };
}

/** A number with precision suited to its size; "-" for NaN. */
function num(x: number): string {
  if (!Number.isFinite(x)) return "-";
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString("en-US");
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

const ratio = (a: number, b: number): string => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : "-");
const pct = (micros: number): string => (Number.isFinite(micros) ? `${(micros / 1e4).toFixed(1)}%` : "-");

/** The table: one column per phase, then full ÷ fetch-only. */
export function formatTable(figs: readonly PhaseFigures[], run: RunShape, offline: OfflineParse): string {
  const by = (p: PhaseName): PhaseFigures | undefined => figs.find((f) => f.phase === p);
  const idle = by("idle");
  const fetchOnly = by("fetch-only");
  const full = by("full");
  if (!idle || !fetchOnly || !full) return "";
  const cols = [idle, fetchOnly, full];
  const rows: string[][] = [["", "idle", "fetch-only", "full", "full ÷ fetch-only"]];
  const row = (label: string, f: (x: PhaseFigures) => string, r?: (x: PhaseFigures) => number): void => {
    rows.push([label, ...cols.map(f), r ? ratio(r(full), r(fetchOnly)) : ""]);
  };
  row("scrapes/s (÷ intended)", (x) =>
    x.phase === "idle" ? "-" : `${num(x.scrapesPerSecond)} (${num(x.achievedShare)})`,
  );
  row("scrapes ok (errors)", (x) =>
    x.phase === "idle" ? "-" : `${x.ok} (${Object.values(x.errors).reduce((a, b) => a + b, 0)})`,
  );
  row(
    "bench CPU, ms per s (of which system)",
    (x) => `${num(x.cpuMicrosPerSecond / 1000)} (${num(x.systemMicrosPerSecond / 1000)})`,
  );
  row(
    "net CPU (− idle), one core",
    (x) => pct(x.netCpuMicrosPerSecond),
    (x) => x.netCpuMicrosPerSecond,
  );
  row(
    "net CPU per pod per s, µs",
    (x) => num(x.netCpuMicrosPerPodPerSecond),
    (x) => x.netCpuMicrosPerPodPerSecond,
  );
  row(
    "net CPU per scrape, µs",
    (x) => num(x.netCpuMicrosPerScrape),
    (x) => x.netCpuMicrosPerScrape,
  );
  row("parse+map per scrape, µs (in loop)", (x) => num(x.interpretMicrosPerScrape));
  row("deferred at bound / busy, per s", (x) =>
    x.phase === "idle" ? "-" : `${num(x.deferredPerSecond)} / ${num(x.skippedBusyPerSecond)}`,
  );
  row(
    "event-loop delay p99 / max, ms (worst slice)",
    (x) => `${num(x.eventLoopDelayP99Ms)} / ${num(x.eventLoopDelayMaxMs)}`,
  );
  row("endpoint child CPU, ms per s", (x) => num(x.childCpuMicrosPerSecond / 1000));
  row("pods fresh at slice end", (x) =>
    x.phase === "full" ? `${num(x.freshPodsAtSliceEnd)}/${run.pods}` : "-",
  );
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  const lines = rows.map((r) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("   "),
  );
  const intended = (run.pods * 1000) / run.intervalMs;
  const title =
    `== scrape: ${run.pods} pods every ${run.intervalMs} ms = ${num(intended)} scrapes/s intended; ` +
    `${run.body} body ${(run.bodyBytes / 1024).toFixed(1)} KiB (${run.bodySamples} samples); ` +
    `concurrency ${run.concurrency}, timeout ${run.timeoutMs} ms; ${run.rounds} × ${run.sliceSeconds.toFixed(2)} s ` +
    `per phase, interleaved ==`;
  const errors = cols
    .filter((c) => Object.keys(c.errors).length > 0)
    .map((c) => `  ${c.phase} errors: ${JSON.stringify(c.errors)}`);
  const foot =
    `offline, same body: parse+map ${num(offline.interpretMicros)} µs (catalogue names kept), ` +
    `parse keeping every sample ${num(offline.parseAllMicros)} µs`;
  return [title, ...lines, ...errors, foot].join("\n");
}
