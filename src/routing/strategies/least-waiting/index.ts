/**
 * `least-waiting`: prefer the pod with the shortest engine queue (requests waiting to be scheduled), which is
 * where a new request's time to first token mostly comes from. The per-model figure is used when the engine
 * labels its series by model (a pod serving several models or adapters), else the pod-wide one.
 *
 * Not an AIBrix name (AIBrix has no queue-depth strategy); the idea is EPP's `queue-scorer`.
 *
 * @module
 */
import type { z } from "zod";
import { lowestMetricFactory, METRIC_NOT_REPORTED, METRICS_MISSING, noParams } from "../signal-scores";
import type { StrategyContract } from "../../strategy-contract";

/** Registered type name. */
export const TYPE = "least-waiting";

/** No params; unknown keys are rejected so a typo in configuration fails startup. */
export const paramsSchema = noParams;

/** Params of `least-waiting` (none). */
export type LeastWaitingParams = z.infer<typeof paramsSchema>;

/**
 * Creates the (stateless) `least-waiting` strategy: `score = (max − q) / (max − min)` over `q = byModel.get(request.model)?.requestsWaiting ?? requestsWaiting`.
 * All equal → 1; a pod without the figure → 0. Abstains `metrics-missing` (no candidate has fresh metrics) or
 * `metric-not-reported` (none of those that do reports the figure).
 */
export const contract: StrategyContract = {
  ranksBy: "fewest-waiting",
  abstainsWhen: [METRICS_MISSING, METRIC_NOT_REPORTED],
};

export const factory = {
  ...lowestMetricFactory(
    TYPE,
    (m, ctx) => m.byModel.get(ctx.request.model)?.requestsWaiting ?? m.requestsWaiting,
  ),
  contract,
};
