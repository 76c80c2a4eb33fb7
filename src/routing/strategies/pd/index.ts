/**
 * `pd` (AIBrix's name): the decode half of prefill/decode disaggregation. For a model served by prefill and decode
 * pods it keeps the decode pods of complete rolesets and ranks them by load over free KV cache. The P/D router
 * (`routing/pd/`) picks the prefill pod and runs the prefill request before this pick, and narrows its candidates
 * to the prefill pod's roleset. For a model without disaggregated pods it keeps every candidate and ranks them the
 * same way, so `pd` as a default is harmless.
 *
 * @module
 */
import { z } from "zod";
import { completeRolesets, pdPlacement } from "../../../cluster";
import type { Pod } from "../../../cluster";
import type { Strategy, StrategyFactory } from "../../framework";
import type { StrategyContract } from "../../strategy-contract";

/** Registered type name. */
export const TYPE = "pd";

/** No params; unknown keys are rejected so a typo in configuration fails startup. */
export const paramsSchema = z.strictObject({});

/** Params of `pd` (none). */
export type PdParams = z.infer<typeof paramsSchema>;

/** Floor of the free-KV share, so a full cache ranks last without dividing by zero. */
const MIN_FREE = 0.01;

/**
 * The candidates a decode pick may use: decode pods of complete rolesets; without any, decode pods at all (they
 * prefill locally), else every candidate (a model that is not disaggregated, or only prefill pods are up).
 */
export function decodeCandidates(pods: readonly Pod[]): readonly Pod[] {
  const sets = completeRolesets(pods);
  if (sets.size > 0) return [...sets.values()].flatMap((s) => s.decode);
  const decode = pods.filter((p) => pdPlacement(p)?.role === "decode");
  return decode.length > 0 ? decode : pods;
}

/** Creates the (stateless) `pd` strategy. */
export const factory: StrategyFactory<PdParams> = {
  type: TYPE,
  paramsSchema,
  contract: { ranksBy: "fewest-inflight", abstainsWhen: [] } satisfies StrategyContract,
  create() {
    return {
      type: TYPE,
      reads: ["inflight", "engine-metrics"],
      filter: (_ctx, pods) => decodeCandidates(pods),
      /**
       * AIBrix's decode `load_balancing` cost without the throughput term (kvroute's own in-flight count stands for
       * running requests): `cost = (requests / max requests) / (free KV / max free KV)`, free KV = 1 − the engine's
       * KV cache usage (all free when not reported). `score = 1 − cost / max cost`, 1 for every pod when all
       * costs are 0. Never abstains: requests in flight are always known.
       */
      score(ctx, pods) {
        const requests = new Float64Array(pods.length);
        const free = new Float64Array(pods.length);
        let maxRequests = 0;
        let maxFree = 0;
        for (let i = 0; i < pods.length; i++) {
          const key = (pods[i] as Pod).key;
          requests[i] = ctx.load(key).requests;
          const usage = ctx.metrics(key)?.kvCacheUsage;
          free[i] = Math.max(MIN_FREE, 1 - (usage !== undefined && Number.isFinite(usage) ? usage : 0));
          maxRequests = Math.max(maxRequests, requests[i] as number);
          maxFree = Math.max(maxFree, free[i] as number);
        }
        const cost = new Float64Array(pods.length);
        let maxCost = 0;
        for (let i = 0; i < pods.length; i++) {
          const run = maxRequests > 0 ? (requests[i] as number) / maxRequests : 0;
          cost[i] = run / ((free[i] as number) / maxFree);
          maxCost = Math.max(maxCost, cost[i] as number);
        }
        const scores = new Float64Array(pods.length);
        for (let i = 0; i < pods.length; i++) scores[i] = maxCost > 0 ? 1 - (cost[i] as number) / maxCost : 1;
        return { t: "scores", scores };
      },
    } satisfies Strategy;
  },
};
