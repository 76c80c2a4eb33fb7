/**
 * The overload scenario's results as data, the issue's targets checked on them, and the stdout table: one row per
 * flow-control mode and band, then per mode the fairness index and the high-priority band's loaded/unloaded TTFT
 * p90 ratio.
 *
 * @module
 */
import type { BandResult, Fairness } from "./overload-report";
import type { SaturationPoint } from "./overload-saturation";

/** `on`: kvroute's defaults (flow control on); `off`: `--flow-control=false`. */
export type FlowControlMode = "on" | "off";

/** One run (one mode, one load). */
export interface OverloadRunResult {
  readonly flowControl: FlowControlMode;
  /** Offered load, × saturation. */
  readonly saturation: number;
  /** Offered requests per second. */
  readonly rate: number;
  readonly requests: number;
  readonly windowSeconds: number;
  readonly wallSeconds: number;
  readonly bands: readonly BandResult[];
  readonly fairness: Fairness;
  /** Σ of the bands' accepted-but-lost requests. */
  readonly lost: number;
  /** kvroute's `kvroute_flow_*_total` counters after the run (`saturation_checks:<result>`, `dispatched`, `dropped:<reason>`). */
  readonly flowCounters: Readonly<Record<string, number>>;
}

/** Both runs of one mode. */
export interface OverloadModeResult {
  readonly mode: FlowControlMode;
  readonly loaded: OverloadRunResult;
  readonly unloaded: OverloadRunResult;
}

/** One target of the issue, checked. */
export interface TargetClaim {
  readonly claim: string;
  readonly pass: boolean;
  readonly detail: string;
}

/** Everything one overload run produced (also what `--json` writes). */
export interface OverloadReport {
  readonly benchmark: "routing";
  readonly scenario: "overload";
  readonly date: string;
  readonly machine: string;
  readonly seed: number;
  readonly pods: number;
  readonly preset: string;
  readonly strategy: string;
  /** Requests per second at 1× saturation. */
  readonly saturationRate: number;
  readonly saturationSource: "measured" | "flag" | "default";
  readonly sweep?: readonly SaturationPoint[];
  readonly modes: readonly OverloadModeResult[];
  /** The targets, checked on the `on` mode; empty when it was not run. */
  readonly targets: readonly TargetClaim[];
}

/** The issue's targets for flow control on. */
export const TARGETS = { maxHighP90Ratio: 2, minJain: 0.9, maxLost: 0 } as const;

/** The highest band's loaded TTFT p90 over its unloaded one (NaN when the unloaded run had no TTFT). */
export function highP90Ratio(m: OverloadModeResult): number {
  const loaded = m.loaded.bands[0]?.ttftMs.p90 ?? Number.NaN;
  const unloaded = m.unloaded.bands[0]?.ttftMs.p90 ?? Number.NaN;
  return unloaded > 0 ? loaded / unloaded : Number.NaN;
}

/** The issue's targets on the `on` mode. */
export function checkTargets(modes: readonly OverloadModeResult[]): TargetClaim[] {
  const on = modes.find((m) => m.mode === "on");
  if (!on) return [];
  const high = on.loaded.bands[0];
  const ratio = highP90Ratio(on);
  const lost = on.loaded.lost + on.unloaded.lost;
  return [
    {
      claim: `${high?.band ?? "high"} TTFT p90 at ${on.loaded.saturation}x <= ${TARGETS.maxHighP90Ratio}x unloaded`,
      pass: ratio <= TARGETS.maxHighP90Ratio,
      detail:
        `${(high?.ttftMs.p90 ?? 0).toFixed(0)} ms / ${(on.unloaded.bands[0]?.ttftMs.p90 ?? 0).toFixed(0)} ms ` +
        `= ${ratio.toFixed(2)}x`,
    },
    {
      claim: `Jain's index of served tokens >= ${TARGETS.minJain}`,
      pass: on.loaded.fairness.jain >= TARGETS.minJain,
      detail: `${on.loaded.fairness.jain.toFixed(3)} (${fairnessText(on.loaded.fairness)})`,
    },
    {
      claim: "nothing accepted is lost",
      pass: lost <= TARGETS.maxLost,
      detail: `${lost} lost (loaded ${on.loaded.lost}, unloaded ${on.unloaded.lost})`,
    },
  ];
}

function fairnessText(f: Fairness): string {
  return Object.entries(f.servedTokens)
    .map(([t, n]) => `${t} ${(n / 1000).toFixed(0)}k`)
    .join(", ");
}

/** Fixed-width table: a row per mode, load and band. */
export function formatOverloadTable(modes: readonly OverloadModeResult[]): string {
  const head = [
    "flow ctl",
    "load",
    "band",
    "prio",
    "sent",
    "done",
    "TTFT p50",
    "p90",
    "p99 ms",
    "SLO ms",
    "good",
    "goodput/s",
    "queue-full",
    "ttl",
    "shed",
    "lost",
  ];
  const rows: string[][] = [];
  for (const m of modes)
    for (const run of [m.unloaded, m.loaded])
      for (const b of run.bands)
        rows.push([
          m.mode,
          `${run.saturation}x`,
          b.band,
          String(b.priority),
          String(b.sent),
          String(b.completed),
          b.ttftMs.p50.toFixed(0),
          b.ttftMs.p90.toFixed(0),
          b.ttftMs.p99.toFixed(0),
          String(b.ttftSloMs),
          `${b.sent ? ((100 * b.good) / b.sent).toFixed(0) : "0"}%`,
          b.goodputPerSecond.toFixed(2),
          String(b.drops["queue-full"] ?? 0),
          String(b.drops.ttl ?? 0),
          String(b.drops.shed ?? 0),
          String(b.lost),
        ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? "").length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i <= 2 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ");
  return [line(head), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** The whole stdout text: saturation, table, per-mode summary lines, targets. */
export function formatOverload(r: OverloadReport): string {
  const lines = [
    `scenario overload: ${r.pods} × ${r.preset} pods, strategy ${r.strategy}, seed ${r.seed}; ` +
      `saturation ${r.saturationRate.toFixed(1)} req/s (${r.saturationSource})`,
    formatOverloadTable(r.modes),
    "",
  ];
  for (const m of r.modes) {
    const lostKinds = m.loaded.bands.flatMap((b) => Object.entries(b.lostKinds).map(([k, n]) => `${k} ${n}`));
    lines.push(
      `flow control ${m.mode}: Jain ${m.loaded.fairness.jain.toFixed(3)} (${fairnessText(m.loaded.fairness)}); ` +
        `${m.loaded.bands[0]?.band ?? "high"} p90 ${m.loaded.saturation}x/unloaded ${highP90Ratio(m).toFixed(2)}x; ` +
        `lost ${m.loaded.lost + m.unloaded.lost}${lostKinds.length ? ` (${lostKinds.join(", ")})` : ""}`,
    );
    const counters = Object.entries(m.loaded.flowCounters);
    if (counters.length)
      lines.push(
        `  kvroute flow counters at ${m.loaded.saturation}x: ${counters.map(([k, n]) => `${k} ${n}`).join(", ")}`,
      );
  }
  if (r.targets.length) {
    lines.push("", `targets (flow control on): ${r.targets.every((t) => t.pass) ? "PASS" : "FAIL"}`);
    for (const t of r.targets) lines.push(`  [${t.pass ? "ok" : "FAIL"}] ${t.claim}: ${t.detail}`);
  }
  return lines.join("\n");
}
