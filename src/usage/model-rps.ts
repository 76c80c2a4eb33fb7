/**
 * Per-model requests-per-second limit (AIBrix's profile `requestsPerSecond`), over AIBrix's fixed 1-second
 * Redis window so kvroute and AIBrix gateways share one budget:
 * `INCRBY aibrix_model:<model>_MODEL_RPS_CURRENT:<bin>`; a count above the limit is over.
 *
 * Differences from AIBrix, on purpose: a Redis failure lets the request through (AIBrix answers 500) because the
 * limit protects the fleet from overload, and an outage of the limiter's store is not the fleet being overloaded.
 *
 * @module
 */
import { createRateWindow } from "./rate-window";
import type { RateWindow } from "./rate-window";
import type { RedisConnection } from "./redis";

/** Window name AIBrix uses for model RPS. */
export const MODEL_RPS_WINDOW = "aibrix_model";

/** The counter key of `model` within the window (AIBrix `modelRPSKey`). */
export const modelRpsKey = (model: string): string => `${model}_MODEL_RPS_CURRENT`;

/** How one check ended (the `outcome` label of `kvroute_model_rps_checks_total`). */
export type ModelRpsOutcome = "allowed" | "exceeded" | "unavailable";

/** The answer for one request. */
export type ModelRpsAdmission =
  | {
      readonly t: "allowed";
      /** The request was counted; give the count back (once) if it is not routed after all. Never throws. */
      readonly rollback: () => void;
    }
  | { readonly t: "exceeded" }
  /** Redis did not answer: the request was not counted and goes through. */
  | { readonly t: "unavailable" };

/** Options of {@link createModelRpsLimiter}. */
export interface ModelRpsLimiterOptions {
  readonly redis: RedisConnection;
  /** Wall clock, Unix epoch ms (picks the window bin). Default `Date.now`. */
  readonly nowMs?: () => number;
  /** Every check, for metrics. Must not throw. */
  readonly onCheck?: (outcome: ModelRpsOutcome) => void;
}

/** Counts requests per model and second. */
export interface ModelRpsLimiter {
  /**
   * Count one request for `model` and compare with `limit` (requests per second, > 0). Never rejects. An exceeded
   * request stays counted, as in AIBrix: a client that keeps retrying keeps the window full.
   */
  admit(model: string, limit: number): Promise<ModelRpsAdmission>;
  /** The window (for tests and `/debug`: its `keyFor` names the Redis key). */
  readonly window: RateWindow;
}

/** Create the limiter over an outage-safe Redis connection. */
export function createModelRpsLimiter(opts: ModelRpsLimiterOptions): ModelRpsLimiter {
  const window = createRateWindow({ redis: opts.redis, name: MODEL_RPS_WINDOW, windowSeconds: 1 });
  const now = opts.nowMs ?? Date.now;
  const report = (outcome: ModelRpsOutcome): void => opts.onCheck?.(outcome);
  return {
    window,
    async admit(model, limit) {
      const key = modelRpsKey(model);
      // The rollback must hit the bin that was incremented, even if the second has turned meanwhile.
      const at = now();
      const res = await window.incr(key, 1, at);
      if (!res.ok) {
        report("unavailable");
        return { t: "unavailable" };
      }
      if (res.value > limit) {
        report("exceeded");
        return { t: "exceeded" };
      }
      report("allowed");
      let done = false;
      return {
        t: "allowed",
        rollback: () => {
          if (done) return;
          done = true;
          // Fire and forget: `incr` never rejects, and a lost decrement only over-counts for under a second.
          void window.incr(key, -1, at);
        },
      };
    },
  };
}
