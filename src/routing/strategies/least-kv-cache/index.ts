/**
 * `least-kv-cache`: prefer the pod whose KV cache is least full, from the engine's own gauge (vLLM v1
 * `kv_cache_usage_perc`, older vLLM `gpu_cache_usage_perc`, SGLang `token_usage`). Unlike AIBrix it does not add
 * `cpu_cache_usage_perc`, which vLLM v1 no longer exports (AIBrix then skips every pod and picks at random).
 *
 * @module
 */
import { z } from "zod";
import type { Strategy, StrategyFactory } from "../../framework";
import { scoreLowestMetric } from "../signal-scores";

/** Registered type name (as AIBrix registers it). */
export const TYPE = "least-kv-cache";

/** No params; unknown keys are rejected so a typo in configuration fails startup. */
export const paramsSchema = z.strictObject({});

/** Params of `least-kv-cache` (none). */
export type LeastKvCacheParams = z.infer<typeof paramsSchema>;

/** Creates the (stateless) `least-kv-cache` strategy. */
export const factory: StrategyFactory<LeastKvCacheParams> = {
  type: TYPE,
  paramsSchema,
  create() {
    return {
      type: TYPE,
      reads: ["engine-metrics"],
      /**
       * `score = (max − u) / (max − min)` over `u = kvCacheUsage` of the pods with fresh metrics that report it;
       * all equal → 1; a pod without it → 0. Abstains `metrics-missing` (no candidate has fresh metrics) or
       * `metric-not-reported` (none of those that do reports KV-cache usage).
       */
      score: (ctx, pods) => scoreLowestMetric(ctx, pods, (m) => m.kvCacheUsage),
    } satisfies Strategy;
  },
};
