/**
 * `least-utilization`: prefer the pod with the lowest engine-reported utilization (xLLM `engine_utilization`).
 * vLLM and SGLang report no such figure, so on those fleets this strategy abstains `metric-not-reported` and the
 * scheduler's counted fallback decides; AIBrix picks at random there and says nothing.
 *
 * @module
 */
import { z } from "zod";
import type { Strategy, StrategyFactory } from "../../framework";
import { scoreLowestMetric } from "../signal-scores";

/** Registered type name (as AIBrix registers it). */
export const TYPE = "least-utilization";

/** No params; unknown keys are rejected so a typo in configuration fails startup. */
export const paramsSchema = z.strictObject({});

/** Params of `least-utilization` (none). */
export type LeastUtilizationParams = z.infer<typeof paramsSchema>;

/** Creates the (stateless) `least-utilization` strategy. */
export const factory: StrategyFactory<LeastUtilizationParams> = {
  type: TYPE,
  paramsSchema,
  create() {
    return {
      type: TYPE,
      reads: ["engine-metrics"],
      /**
       * `score = (max − u) / (max − min)` over `u = utilization` of the pods with fresh metrics that report it;
       * all equal → 1; a pod without it → 0. Abstains `metrics-missing` or `metric-not-reported` (vLLM, SGLang).
       */
      score: (ctx, pods) => scoreLowestMetric(ctx, pods, (m) => m.utilization),
    } satisfies Strategy;
  },
};
