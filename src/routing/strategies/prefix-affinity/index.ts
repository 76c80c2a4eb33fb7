/**
 * `prefix-affinity` ("sticky until saturated", llm-d's behaviour on kvroute's indexes): keep a request on the pods
 * that hold enough of its prompt until the prefill backlog there would cost more TTFT than one accepts; then send
 * it where the backlog is least and let that pod recompute the prefix.
 *
 * @module
 */
import { z } from "zod";
import type { Pod } from "../../../cluster";
import type { Outcome, RouteFinisher, RoutingContext, Strategy, StrategyFactory } from "../../framework";
import type { StrategyContract } from "../../strategy-contract";
import { createMatchMemo, matchPrefix, recordRouted } from "../prefix-cache/match";
import { createPrefillGate } from "./gate";
import { createUncachedInflight } from "../../uncached-inflight";

/** Registered type name. */
export const TYPE = "prefix-affinity";

/** Params (all optional; unknown keys fail startup). */
export const paramsSchema = z.strictObject({
  /** A pod is affine when it holds at least this fraction of the prompt's blocks. */
  threshold: z.number().gt(0).max(1).default(0.5),
  /** Extra TTFT one accepts to keep a prompt on its cache, seconds: the gate is throughput × this. */
  ttftPenaltySeconds: z.number().gt(0).max(3600).default(1),
  /** Prefill throughput per model (tokens/s); wins over the GPU profile and the measured rate. */
  prefillTokensPerSecond: z.record(z.string(), z.number().positive().finite()).default({}),
});

/** Params of `prefix-affinity`. */
export type PrefixAffinityParams = z.infer<typeof paramsSchema>;

/** Ties between equal hit fractions go to the pod with less look-ahead backlog, by at most this much. */
const BACKLOG_TIE_BREAK = 1e-6;
/**
 * Look-ahead backlogs within this share of the largest count as equal; fewer requests in flight then wins. Pods
 * whose backlog has drained all score the same by backlog, and a pod busy decoding many requests runs longer
 * steps, so its prefill of the next prompt is slower.
 */
const REQUEST_TIE_BREAK = 0.01;
/** Scores of the pods the gate keeps lie in [0.5, 1]; every other pod scores below this. */
const OTHERS_BELOW = 0.49;

/** What one decision computed, kept for `onRouted` (same synchronous step, guarded by `ctx` identity). */
interface Decision {
  readonly ctx: RoutingContext;
  readonly pods: readonly Pod[];
  /** Index-aligned with `pods`: this prompt's uncached tokens on each pod. */
  readonly uncached: Float64Array;
}

/** Creates the `prefix-affinity` strategy over `deps.prefix` (abstains `no-prefix-index` without it). */
export const factory: StrategyFactory<PrefixAffinityParams> = {
  type: TYPE,
  paramsSchema,
  contract: {
    ranksBy: "most-prefix-blocks",
    abstainsWhen: ["no-prefix-index", "no-tokens"],
  } satisfies StrategyContract,
  create(params, deps) {
    const prefix = deps.prefix;
    const memo = createMatchMemo();
    const inflight = createUncachedInflight();
    const gate = createPrefillGate(params, deps.slo);
    let last: Decision | undefined;
    return {
      type: TYPE,
      reads: ["prefix", "inflight", "engine-metrics", "pending-load"],

      /**
       * With `T` the prompt's tokens, `h` a pod's hit fraction (as in `prefix-cache`), `B` the uncached prompt
       * tokens kvroute has in flight there and the pod has not prefilled yet (`uncached-inflight.ts`; the
       * engine's fresh waiting-queue length corrects its drain model): look-ahead `L = B + T·(1 − h)`. Affine
       * pods (`h ≥ threshold`) with `L ≤ τ` (`gate.ts`: the least `L` plus min(T, throughput × penalty)) score
       * in [0.5, 1] by `h` (ties: least `L`); every other pod scores below 0.5 by least `L`, so when no affine
       * pod is under the gate the least backlog wins. Backlogs within 1% of the largest go to the pod with fewer
       * requests in flight. Abstains `no-prefix-index` or `no-tokens` only.
       */
      score(ctx, pods) {
        last = undefined;
        const m = memo.keep(ctx, pods, matchPrefix(ctx, pods, prefix));
        if (m.t === "abstain") return m;
        const tokens = (ctx.prompt.tokens as Uint32Array).length;
        const n = pods.length;
        const now = deps.now();
        const uncached = new Float64Array(n);
        const look = new Float64Array(n);
        const requests = new Float64Array(n);
        let maxLook = 0;
        let minLook = Infinity;
        let maxRequests = 0;
        for (let i = 0; i < n; i++) {
          const pod = pods[i] as Pod;
          const metrics = ctx.metrics(pod.key);
          if (metrics) gate.observe(pod.key, metrics);
          uncached[i] = Math.ceil(tokens * (1 - (m.fractions[i] as number)));
          const l = inflight.tokens(pod.key, now, metrics?.requestsWaiting) + (uncached[i] as number);
          look[i] = l;
          if (l > maxLook) maxLook = l;
          if (l < minLook) minLook = l;
          requests[i] = ctx.load(pod.key).requests;
          if ((requests[i] as number) > maxRequests) maxRequests = requests[i] as number;
        }
        last = { ctx, pods, uncached };
        // In [0, 1], 1 best: less look-ahead backlog, then (within REQUEST_TIE_BREAK) fewer requests in flight.
        const lighter = (i: number): number => {
          const byLook = maxLook > minLook ? (maxLook - (look[i] as number)) / (maxLook - minLook) : 1;
          const byRequests = maxRequests > 0 ? 1 - (requests[i] as number) / maxRequests : 1;
          return (1 - REQUEST_TIE_BREAK) * byLook + REQUEST_TIE_BREAK * byRequests;
        };
        const scores = new Float64Array(n);
        let kept = false;
        for (let i = 0; i < n; i++) {
          const h = m.fractions[i] as number;
          if (h < params.threshold) continue;
          const pod = pods[i] as Pod;
          const tau = gate.tokens(ctx.request.model, pod, minLook, tokens);
          if ((look[i] as number) > tau) continue;
          scores[i] = 0.5 + 0.5 * (h * (1 - BACKLOG_TIE_BREAK) + BACKLOG_TIE_BREAK * lighter(i));
          kept = true;
        }
        for (let i = 0; i < n; i++) {
          if (kept && (scores[i] as number) > 0) continue;
          // Without an affine pod under its gate the least backlog is the best pick, so it may score 1.
          scores[i] = kept ? OTHERS_BELOW * lighter(i) : lighter(i);
        }
        return { t: "scores", scores };
      },

      prefixLookup: (ctx, pod) => memo.lookup(ctx, pod),

      /**
       * Hold this prompt's uncached tokens on `pod` until the request ends (the finisher gives them back once; a
       * move carries them to the serving pod at its own uncached count), and record the prompt there as
       * `prefix-cache` does.
       */
      onRouted(ctx, pod) {
        const d = last !== undefined && last.ctx === ctx ? last : undefined;
        last = undefined;
        let prefixFinish: RouteFinisher | undefined;
        try {
          prefixFinish = recordRouted(ctx, pod, prefix);
        } catch {
          // A failed index update only costs a future cache hit; the backlog is still held below.
          prefixFinish = undefined;
        }
        // Only what the finisher needs outlives the decision (not the prompt): the candidates' uncached counts,
        // the prompt's length and the model. A pod the decision did not score counts the whole prompt as uncached.
        const scored = d?.pods;
        const uncached = d?.uncached;
        const promptTokens = ctx.prompt.tokens?.length ?? 0;
        const model = ctx.request.model;
        const uncachedOn = (to: Pod): number => {
          const j = scored ? scored.indexOf(to) : -1;
          return j >= 0 ? (uncached?.[j] as number) : promptTokens;
        };
        const drain = (to: Pod): number | undefined => gate.throughput(model, to)?.tokensPerSecond;
        const held = inflight.reserve(pod.key, uncachedOn(pod), deps.now(), drain(pod));
        const finish = (outcome: Outcome): void => {
          held.release();
          prefixFinish?.(outcome);
        };
        const moveTo = (to: Pod): void => {
          held.moveTo(to.key, uncachedOn(to), deps.now(), drain(to));
          prefixFinish?.moveTo?.(to);
        };
        // The first token says the pod has prefilled the prompt: the share (and those queued before it) stop
        // counting, and the pod's later shares drain from now (the exact backlog, not the fluid model's guess).
        const firstToken = (): void => held.prefilled(deps.now());
        return Object.assign(finish, { moveTo, firstToken });
      },
    } satisfies Strategy;
  },
};
