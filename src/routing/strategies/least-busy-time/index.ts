/**
 * `least-busy-time`: prefer the pod that needs the least time to drain what kvroute has sent it: in-flight
 * requests × the pod's observed mean request duration. AIBrix's version reads `gpu_busy_time_ratio`, which
 * nothing populates, so it always picks at random; this one uses kvroute's own numbers.
 *
 * @module
 */
import { z } from "zod";
import type { Pod } from "../../../cluster";
import type { Strategy, StrategyFactory } from "../../framework";
import type { StrategyContract } from "../../strategy-contract";
import { minMax, NO_OBSERVATIONS } from "../signal-scores";

/** Registered type name (as AIBrix registers it). */
export const TYPE = "least-busy-time";

/** No params; unknown keys are rejected so a typo in configuration fails startup. */
export const paramsSchema = z.strictObject({});

/** Params of `least-busy-time` (none). */
export type LeastBusyTimeParams = z.infer<typeof paramsSchema>;

/**
 * Busy time of a pod, ms: `inflight × durationMs`; 0 for an idle pod whatever is known of it (nothing to drain);
 * undefined for a busy pod without a duration observation.
 */
export function busyTimeMs(inflight: number, durationMs: number | undefined): number | undefined {
  if (inflight === 0) return 0;
  return durationMs === undefined ? undefined : inflight * durationMs;
}

/** Creates the (stateless) `least-busy-time` strategy. */
export const factory: StrategyFactory<LeastBusyTimeParams> = {
  type: TYPE,
  paramsSchema,
  contract: { ranksBy: "least-busy-time", abstainsWhen: [NO_OBSERVATIONS] } satisfies StrategyContract,
  create() {
    return {
      type: TYPE,
      reads: ["observations", "inflight"],
      /**
       * `score = (max − b) / (max − min)` over `b = busyTimeMs(inflight, observation.durationMs)`; all equal → 1;
       * a busy pod without a duration observation → 0. Abstains `no-observations` when no candidate has a
       * duration observation (the scheduler's least-request fallback then decides, which is the same ranking for
       * idle pods).
       */
      score(ctx, pods) {
        const values = new Float64Array(pods.length);
        let observed = 0;
        for (let i = 0; i < pods.length; i++) {
          const key = (pods[i] as Pod).key;
          const durationMs = ctx.observation(key)?.durationMs;
          if (durationMs !== undefined) observed++;
          const b = busyTimeMs(ctx.load(key).requests, durationMs);
          values[i] = b !== undefined && Number.isFinite(b) ? b : NaN;
        }
        if (pods.length > 0 && observed === 0) return { t: "abstain", reason: NO_OBSERVATIONS };
        return { t: "scores", scores: minMax(values, "lower").scores };
      },
    } satisfies Strategy;
  },
};
