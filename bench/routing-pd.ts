/**
 * The prefill/decode part of the routing benchmark (`--scenario pd`): the same GPUs run undisaggregated (every pod
 * serves both phases, a load or prefix-and-load strategy) and disaggregated (half the pods prefill-only, half
 * decode-only, kvroute's `pd` strategy sending the prefill hop itself), on the long-prompt mix
 * (`e2e/long-prompt-mix.ts`). P/D trades some time to first token (a prefill hop and a KV pull, fewer pods doing
 * prefill) for steady decoding, so the table's point is time per output token next to TTFT.
 *
 * @module
 */
import { percentiles } from "./e2e/run-workload";
import type { Percentiles, RequestRecord } from "./e2e/run-workload";
import { fixedWidthTable } from "./routing-report";
import type { StrategyResult } from "./routing-report";

/** Strategies of `--scenario pd` unless `--strategies` says otherwise: two undisaggregated baselines, then `pd`. */
export const PD_SCENARIO_STRATEGIES: readonly string[] = ["least-request", "prefix-cache-and-load", "pd"];

/** Defaults of the long-prompt mix where they differ from the shared-prefix ones (see README "P/D"). */
export const LONG_MIX_DEFAULTS = { rate: 8, requests: 240, outputTokens: 128 } as const;

/**
 * The disaggregated layout of `pods` GPUs: `prefill` prefill pods (default half, rounded down, at least one),
 * the rest decode, as `kvroute-sim --roles` takes it.
 */
export function pdRoles(pods: number, prefill?: number): string {
  const p = prefill ?? Math.max(1, Math.floor(pods / 2));
  if (!Number.isInteger(p) || p < 1 || p >= pods)
    throw new Error(`--prefill-pods must be 1..${pods - 1} (the rest decode), got ${p}`);
  return `prefill:${p},decode:${pods - p}`;
}

/**
 * Time per output token of each successful request, ms: (end − first token) / (output tokens − 1), vLLM
 * bench_serving's TPOT. Requests with fewer than two output tokens have none.
 */
export function tpotPercentiles(records: readonly RequestRecord[]): Percentiles {
  const values: number[] = [];
  for (const r of records) {
    if (!r.ok || r.ttftMs === undefined || r.outputTokens === undefined || r.outputTokens < 2) continue;
    values.push((r.e2eMs - r.ttftMs) / (r.outputTokens - 1));
  }
  return percentiles(values);
}

/**
 * Each successful streamed request's longest pause between two tokens, ms: where a long prefill sharing the pod's
 * engine steps shows up whole, while TPOT spreads it over the request's tokens.
 */
export function stallPercentiles(records: readonly RequestRecord[]): Percentiles {
  const values: number[] = [];
  for (const r of records) if (r.ok && r.maxInterChunkMs !== undefined) values.push(r.maxInterChunkMs);
  return percentiles(values);
}

/** The P/D table: one row per strategy, TTFT and TPOT percentiles side by side. */
export function formatPdTable(results: readonly StrategyResult[]): string {
  const head = [
    "strategy",
    "pods",
    "not computed",
    "TTFT p50",
    "p90",
    "p99 ms",
    "TPOT p50",
    "p90",
    "p99 ms",
    "stall p50",
    "p99 ms",
    "E2E p50",
    "p99 s",
    "out tok/s",
    "failed",
  ];
  const rows = results.map((r) => [
    r.strategy,
    r.fleet ?? "-",
    r.usageHitRate === undefined ? "-" : `${(100 * r.usageHitRate).toFixed(1)}%`,
    r.ttftMs.p50.toFixed(0),
    r.ttftMs.p90.toFixed(0),
    r.ttftMs.p99.toFixed(0),
    ...(r.tpotMs ? [r.tpotMs.p50, r.tpotMs.p90, r.tpotMs.p99].map((x) => x.toFixed(1)) : ["-", "-", "-"]),
    ...(r.stallMs ? [r.stallMs.p50, r.stallMs.p99].map((x) => x.toFixed(0)) : ["-", "-"]),
    (r.e2eMs.p50 / 1000).toFixed(2),
    (r.e2eMs.p99 / 1000).toFixed(2),
    r.outputTokensPerSecond.toFixed(0),
    String(r.requests - r.succeeded),
  ]);
  return fixedWidthTable(head, rows);
}
