/**
 * Shared scoring rules of the signal-driven strategies (engine metrics, kvroute's own observations), so every one
 * of them treats a missing signal the same way:
 * - scores are min-max normalised over the pods that HAVE the signal, 1 best; all equal → 1;
 * - a pod without the signal scores 0 (never a made-up 0 reading that could look like the best);
 * - when no candidate has the signal, the strategy abstains with a specific reason.
 *
 * @module
 */
import type { EngineMetrics, Pod } from "../../cluster";
import { z } from "zod";
import type { RoutingContext, ScoreResult, Strategy, StrategyFactory } from "../framework";

/** Abstain reason: no candidate has fresh engine metrics (never scraped, scrape failing, or stale). */
export const METRICS_MISSING = "metrics-missing";
/** Abstain reason: some candidates have fresh metrics, but none of them reports the field the strategy reads. */
export const METRIC_NOT_REPORTED = "metric-not-reported";
/** Abstain reason: kvroute has not yet observed a finished request on any candidate. */
export const NO_OBSERVATIONS = "no-observations";

/**
 * Min-max normalise `values` (NaN = the pod lacks the signal) into scores in [0, 1]:
 * `lower`: `(max − x) / (max − min)`; `higher`: `(x − min) / (max − min)`; all present values equal → 1;
 * NaN → 0. Returns the scores and how many pods had the signal.
 */
export function minMax(
  values: Float64Array,
  better: "lower" | "higher",
): { scores: Float64Array; present: number } {
  let min = Infinity;
  let max = -Infinity;
  let present = 0;
  for (const x of values) {
    if (Number.isNaN(x)) continue;
    present++;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  const range = max - min;
  const scores = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = values[i] as number;
    if (Number.isNaN(x)) continue;
    scores[i] = range > 0 ? (better === "lower" ? max - x : x - min) / range : 1;
  }
  return { scores, present };
}

/** `x` when it is a finite number, else NaN (the "no signal" marker of {@link minMax}). */
export const finiteOrNaN = (x: number | undefined): number =>
  x !== undefined && Number.isFinite(x) ? x : NaN;

/**
 * Score `pods` on one engine-metric figure where lower is better (`read` returns undefined when the engine does
 * not report it). Abstains with {@link METRICS_MISSING} when no candidate has fresh metrics, and with
 * {@link METRIC_NOT_REPORTED} when some do but none reports the figure.
 */
export function scoreLowestMetric(
  ctx: RoutingContext,
  pods: readonly Pod[],
  read: (m: EngineMetrics) => number | undefined,
): ScoreResult {
  const values = new Float64Array(pods.length);
  let fresh = 0;
  for (let i = 0; i < pods.length; i++) {
    const m = ctx.metrics((pods[i] as Pod).key);
    if (m) fresh++;
    values[i] = m ? finiteOrNaN(read(m)) : NaN;
  }
  const { scores, present } = minMax(values, "lower");
  if (pods.length > 0 && present === 0) {
    return { t: "abstain", reason: fresh === 0 ? METRICS_MISSING : METRIC_NOT_REPORTED };
  }
  return { t: "scores", scores };
}

/** No params: unknown keys are rejected so a typo in configuration fails startup. */
export const noParams = z.strictObject({});

/**
 * The factory of a parameterless strategy that prefers the lowest value of one engine metric (see
 * {@link scoreLowestMetric}). `read` gets the request context too, for per-model figures.
 */
export function lowestMetricFactory(
  type: string,
  read: (m: EngineMetrics, ctx: RoutingContext) => number | undefined,
): StrategyFactory<z.infer<typeof noParams>> {
  return {
    type,
    paramsSchema: noParams,
    create() {
      return {
        type,
        reads: ["engine-metrics"],
        score: (ctx, pods) => scoreLowestMetric(ctx, pods, (m) => read(m, ctx)),
      } satisfies Strategy;
    },
  };
}
