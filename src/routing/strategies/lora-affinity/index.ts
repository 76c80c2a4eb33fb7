/**
 * `lora-affinity`: for a request naming a LoRA adapter, prefer pods where that adapter is already active, then
 * pods with a free adapter slot, so requests do not wait on adapter loads and adapters do not thrash. The state
 * comes from vLLM's `lora_requests_info` gauge (running / waiting adapters, `max_lora`).
 *
 * The tiers follow the idea of the inference extension's `lora-affinity-scorer`; the code is kvroute's own.
 *
 * @module
 */
import { z } from "zod";
import type { LoraState, Pod } from "../../../cluster";
import type { Strategy, StrategyFactory } from "../../framework";
import type { StrategyContract } from "../../strategy-contract";
import { METRIC_NOT_REPORTED, METRICS_MISSING } from "../signal-scores";

/** Registered type name. */
export const TYPE = "lora-affinity";

/** Abstain reason: the request names a base model (no candidate lists it among its adapters). */
export const NOT_AN_ADAPTER = "not-an-adapter";

/** Adapter has requests running on the pod: already loaded, nothing to wait for. */
export const ACTIVE_SCORE = 1;
/** Adapter not running, but the pod has a free adapter slot (`|running ∪ waiting| < maxLora`): loads at once. */
export const ROOM_SCORE = 0.8;
/** No free slot, adapter already queued on the pod: the load is already owed to it. */
export const QUEUED_SCORE = 0.6;
/** No free slot and adapter absent (or `maxLora` not reported): waits for another adapter to drain. */
export const FULL_SCORE = 0.4;

/** No params; unknown keys are rejected so a typo in configuration fails startup. */
export const paramsSchema = z.strictObject({});

/** Params of `lora-affinity` (none). */
export type LoraAffinityParams = z.infer<typeof paramsSchema>;

/** The tier of `adapter` on a pod whose LoRA state is `lora` (see the score constants). */
export function loraTier(lora: LoraState, adapter: string): number {
  if (lora.running.includes(adapter)) return ACTIVE_SCORE;
  const loaded = new Set([...lora.running, ...lora.waiting]).size;
  if (lora.maxLora !== undefined && loaded < lora.maxLora) return ROOM_SCORE;
  if (lora.waiting.includes(adapter)) return QUEUED_SCORE;
  return FULL_SCORE;
}

/** Creates the (stateless) `lora-affinity` strategy. */
export const factory: StrategyFactory<LoraAffinityParams> = {
  type: TYPE,
  paramsSchema,
  contract: {
    ranksBy: "active-lora-adapter",
    abstainsWhen: [NOT_AN_ADAPTER, METRICS_MISSING, METRIC_NOT_REPORTED],
  } satisfies StrategyContract,
  create() {
    return {
      type: TYPE,
      reads: ["engine-metrics", "lora"],
      /**
       * Absolute tiers, not min-max (so a weighted combination keeps "free slot" a little below "active"):
       * {@link ACTIVE_SCORE} 1 > {@link ROOM_SCORE} 0.8 > {@link QUEUED_SCORE} 0.6 > {@link FULL_SCORE} 0.4; a
       * pod without fresh metrics or without LoRA state scores 0. Abstains `not-an-adapter` when no candidate
       * lists `request.model` among its `adapters`, `metrics-missing` when no candidate has fresh metrics, and
       * `metric-not-reported` when none of those reports LoRA state.
       */
      score(ctx, pods) {
        const adapter = ctx.request.model;
        const scores = new Float64Array(pods.length);
        if (pods.length === 0) return { t: "scores", scores };
        if (!pods.some((p: Pod) => p.adapters.includes(adapter)))
          return { t: "abstain", reason: NOT_AN_ADAPTER };
        let fresh = 0;
        let reported = 0;
        for (let i = 0; i < pods.length; i++) {
          const m = ctx.metrics((pods[i] as Pod).key);
          if (!m) continue;
          fresh++;
          if (!m.lora) continue;
          reported++;
          scores[i] = loraTier(m.lora, adapter);
        }
        if (reported === 0)
          return { t: "abstain", reason: fresh === 0 ? METRICS_MISSING : METRIC_NOT_REPORTED };
        return { t: "scores", scores };
      },
    } satisfies Strategy;
  },
};
