/**
 * `prefix-cache`: AIBrix's prefix-cache routing (local mode) on kvroute's indexes.
 * Prefer the pod holding the longest run of the prompt's leading blocks, unless load is imbalanced or the pod is
 * overloaded; otherwise abstain so the scheduler falls back to least-request, as AIBrix does.
 *
 * @module
 */
import { z } from "zod";
import type { Pod } from "../../../cluster";
import type { RoutingContext, Strategy, StrategyFactory } from "../../framework";
import type { StrategyContract } from "../../strategy-contract";
import { createMatchMemo, matchPrefix, recordRouted } from "./match";

/** Registered type name (as AIBrix registers it). */
export const TYPE = "prefix-cache";

/**
 * Params. The server maps AIBrix's env (`AIBRIX_PREFIX_CACHE_POD_RUNNING_REQUEST_IMBALANCE_ABS_COUNT`,
 * `AIBRIX_PREFIX_CACHE_STANDARD_DEVIATION_FACTOR`) onto these.
 */
export const paramsSchema = z.strictObject({
  /** Restrict to the least busy pods when max − min in-flight requests exceeds this (strictly). */
  imbalanceAbsCount: z.number().int().min(0).default(8),
  /** k in `mean + k·σ`: a matched pod with more requests in flight than that scores 0. */
  stdDevFactor: z.number().min(0).default(1),
});

/** Params of `prefix-cache`. */
export type PrefixCacheParams = z.infer<typeof paramsSchema>;

/** Ties between equal match fractions go to the pod with fewer requests in flight, by at most this much. */
const LOAD_TIE_BREAK = 1e-6;

/** In-flight request counts of `pods`. */
function inflight(ctx: RoutingContext, pods: readonly Pod[]): Float64Array {
  const out = new Float64Array(pods.length);
  for (let i = 0; i < pods.length; i++) out[i] = ctx.load((pods[i] as Pod).key).requests;
  return out;
}

/** Creates the `prefix-cache` strategy over `deps.prefix` (abstains `no-prefix-index` without it). */
export const factory: StrategyFactory<PrefixCacheParams> = {
  type: TYPE,
  paramsSchema,
  contract: {
    ranksBy: "most-prefix-blocks",
    abstainsWhen: ["no-prefix-index", "no-tokens", "no-prefix-match", "prefix-match-overloaded"],
  } satisfies StrategyContract,
  create(params, deps) {
    const prefix = deps.prefix;
    const memo = createMatchMemo();
    return {
      type: TYPE,
      reads: ["prefix", "inflight"],

      /**
       * Load imbalance (AIBrix step 2): when `max − min > imbalanceAbsCount` over in-flight requests, keep only the
       * pods at the minimum. Otherwise every candidate.
       */
      filter(ctx, pods) {
        if (pods.length < 2) return pods;
        const x = inflight(ctx, pods);
        let min = Infinity;
        let max = -Infinity;
        for (const v of x) {
          if (v < min) min = v;
          if (v > max) max = v;
        }
        if (max - min <= params.imbalanceAbsCount) return pods;
        return pods.filter((_, i) => x[i] === min);
      },

      /**
       * `score = matched leading blocks / prompt blocks` (event index for pods with a live event stream, at their
       * engine's block size; approximate index otherwise), 0 for a pod with more requests in flight than
       * `mean + k·σ` (sample σ over the candidates), minus a tie-break below `1e-6` favouring fewer requests.
       * Abstains `no-prefix-index`, `no-tokens`, `no-prefix-match` (no pod holds the first block) or
       * `prefix-match-overloaded` (every matching pod is above the load cap).
       */
      score(ctx, pods) {
        const m = memo.keep(ctx, pods, matchPrefix(ctx, pods, prefix));
        if (m.t === "abstain") return m;
        if (pods.length === 0) return { t: "scores", scores: new Float64Array(0) };
        if (!m.any) return { t: "abstain", reason: "no-prefix-match" };
        const x = inflight(ctx, pods);
        const n = x.length;
        let sum = 0;
        let max = 0;
        for (const v of x) {
          sum += v;
          if (v > max) max = v;
        }
        const mean = sum / n;
        let sq = 0;
        for (const v of x) sq += (v - mean) * (v - mean);
        const sigma = n > 1 ? Math.sqrt(sq / (n - 1)) : 0;
        const cap = mean + params.stdDevFactor * sigma;
        const scores = new Float64Array(n);
        let kept = false;
        for (let i = 0; i < n; i++) {
          const f = m.fractions[i] as number;
          const load = x[i] as number;
          if (f <= 0 || load > cap) continue;
          scores[i] = f * (1 - (max > 0 ? (LOAD_TIE_BREAK * load) / max : 0));
          kept = true;
        }
        if (!kept) return { t: "abstain", reason: "prefix-match-overloaded" };
        return { t: "scores", scores };
      },

      prefixLookup: (ctx, pod) => memo.lookup(ctx, pod),

      onRouted(ctx, pod) {
        try {
          return recordRouted(ctx, pod, prefix);
        } catch {
          // onRouted must not throw; a failed index update only costs a future cache hit.
          return undefined;
        }
      },
    } satisfies Strategy;
  },
};
