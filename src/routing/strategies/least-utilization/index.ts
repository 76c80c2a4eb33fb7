/**
 * `least-utilization`: prefer the pod with the lowest engine-reported utilization (xLLM `engine_utilization`).
 * vLLM and SGLang report no such figure, so on those fleets this strategy abstains `metric-not-reported` and the
 * scheduler's counted fallback decides; AIBrix picks at random there and says nothing.
 *
 * @module
 */
import type { z } from "zod";
import { lowestMetricFactory, METRIC_NOT_REPORTED, METRICS_MISSING, noParams } from "../signal-scores";
import type { StrategyContract } from "../../strategy-contract";

/** Registered type name (as AIBrix registers it). */
export const TYPE = "least-utilization";

/** No params; unknown keys are rejected so a typo in configuration fails startup. */
export const paramsSchema = noParams;

/** Params of `least-utilization` (none). */
export type LeastUtilizationParams = z.infer<typeof paramsSchema>;

/**
 * Creates the (stateless) `least-utilization` strategy: `score = (max − u) / (max − min)` over `u = utilization`.
 * All equal → 1; a pod without the figure → 0. Abstains `metrics-missing` or `metric-not-reported` (vLLM, SGLang).
 */
export const contract: StrategyContract = {
  ranksBy: "lowest-utilization",
  abstainsWhen: [METRICS_MISSING, METRIC_NOT_REPORTED],
};

export const factory = { ...lowestMetricFactory(TYPE, (m) => m.utilization), contract };
