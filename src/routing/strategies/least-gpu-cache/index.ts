/**
 * `least-gpu-cache`: prefer the pod whose GPU KV-cache is least full, from `gpuCacheUsage` (older vLLM
 * `gpu_cache_usage_perc` when reported, else the same gauge as `least-kv-cache`: vLLM v1 deprecated the name).
 *
 * @module
 */
import { z } from "zod";
import type { Strategy, StrategyFactory } from "../../framework";
import { scoreLowestMetric } from "../signal-scores";

/** Registered type name (as AIBrix registers it). */
export const TYPE = "least-gpu-cache";

/** No params; unknown keys are rejected so a typo in configuration fails startup. */
export const paramsSchema = z.strictObject({});

/** Params of `least-gpu-cache` (none). */
export type LeastGpuCacheParams = z.infer<typeof paramsSchema>;

/** Creates the (stateless) `least-gpu-cache` strategy. */
export const factory: StrategyFactory<LeastGpuCacheParams> = {
  type: TYPE,
  paramsSchema,
  create() {
    return {
      type: TYPE,
      reads: ["engine-metrics"],
      /**
       * `score = (max − u) / (max − min)` over `u = gpuCacheUsage` of the pods with fresh metrics that report it;
       * all equal → 1; a pod without it → 0. Abstains `metrics-missing` or `metric-not-reported`.
       */
      score: (ctx, pods) => scoreLowestMetric(ctx, pods, (m) => m.gpuCacheUsage),
    } satisfies Strategy;
  },
};
