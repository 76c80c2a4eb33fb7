/**
 * `least-waiting`: prefer the pod with the shortest engine queue (requests waiting to be scheduled), which is
 * where a new request's time to first token mostly comes from. The per-model figure is used when the engine
 * labels its series by model (a pod serving several models or adapters), else the pod-wide one.
 *
 * Not an AIBrix name (AIBrix has no queue-depth strategy); the idea is EPP's `queue-scorer`.
 *
 * @module
 */
import { z } from "zod";
import type { Strategy, StrategyFactory } from "../../framework";
import { scoreLowestMetric } from "../signal-scores";

/** Registered type name. */
export const TYPE = "least-waiting";

/** No params; unknown keys are rejected so a typo in configuration fails startup. */
export const paramsSchema = z.strictObject({});

/** Params of `least-waiting` (none). */
export type LeastWaitingParams = z.infer<typeof paramsSchema>;

/** Creates the (stateless) `least-waiting` strategy. */
export const factory: StrategyFactory<LeastWaitingParams> = {
  type: TYPE,
  paramsSchema,
  create() {
    return {
      type: TYPE,
      reads: ["engine-metrics"],
      /**
       * `score = (max − q) / (max − min)` over `q = byModel.get(request.model)?.requestsWaiting ??
       * requestsWaiting` of the pods with fresh metrics that report either; all equal → 1; a pod without it → 0.
       * Abstains `metrics-missing` or `metric-not-reported`.
       */
      score: (ctx, pods) =>
        scoreLowestMetric(
          ctx,
          pods,
          (m) => m.byModel.get(ctx.request.model)?.requestsWaiting ?? m.requestsWaiting,
        ),
    } satisfies Strategy;
  },
};
