/**
 * The SLO family (AIBrix `pkg/plugins/gateway/algorithms/slo.go`): `slo`, `slo-least-load-pulling`,
 * `slo-pack-load` and `slo-least-load`. Each request consumes
 * `requestConsumption(profile, promptTokens, predictedOutput)` of a pod's profiled capacity; a pod's
 * utilization is the sum of what kvroute itself has in flight there (`PendingLoadAccumulator`, reserved in
 * `onRouted`, released by the finisher).
 *
 * - `slo`, `slo-least-load-pulling`: pods where `util + consumption <= 1`; the least utilized wins; none → `wait`.
 * - `slo-pack-load`: the same eligibility; the MOST utilized wins (bin packing); none → `wait`.
 * - `slo-least-load`: no cap; the least utilized wins (never waits).
 *
 * Pods without a usable profile are filtered out while at least one candidate has one (their capacity is
 * unknown, so they are not overflow either); with no usable profile at all the strategy abstains and the
 * scheduler's counted least-request fallback decides.
 *
 * @module
 */
import { z } from "zod";
import type { Pod } from "../../../cluster";
import type { InferenceRequest } from "../../../request";
import { fitsUnderCap, requestConsumption } from "../../../cluster";
import type { RoutingContext, SloDeps, Strategy, StrategyFactory } from "../../framework";
import type { StrategyContract } from "../../strategy-contract";

/** Registered type names. */
export const SLO = "slo";
export const SLO_LEAST_LOAD_PULLING = "slo-least-load-pulling";
export const SLO_PACK_LOAD = "slo-pack-load";
export const SLO_LEAST_LOAD = "slo-least-load";

/** No params; unknown keys are rejected so a typo in configuration fails startup. */
export const paramsSchema = z.strictObject({});

/** Params of the SLO strategies (none). */
export type SloParams = z.infer<typeof paramsSchema>;

/** How a variant picks among pods: capped or not, and whether it spreads (least) or packs (most) load. */
interface Mode {
  readonly capped: boolean;
  readonly prefer: "least" | "most";
}

/** What one decision knows per candidate: its consumption (undefined: no usable profile) and utilization. */
interface Assessment {
  readonly consumption: (number | undefined)[];
  readonly util: Float64Array;
  /** Candidates with a GPU profile (usable or not). */
  readonly profiled: number;
}

function createSlo(type: string, mode: Mode, slo: SloDeps | undefined): Strategy {
  // One prediction per request, shared by filter, score, onRouted and every retry while it waits: the predictor
  // draws at random, and the pod must be charged what it was judged on. Keyed weakly, so it dies with the request.
  const predicted = new WeakMap<InferenceRequest, number>();
  let sequence = 0;

  const predictedOutput = (deps: SloDeps, ctx: RoutingContext, promptTokens: number): number => {
    let out = predicted.get(ctx.request);
    if (out === undefined) {
      out = deps.predictOutput(ctx.request.model, promptTokens);
      const max = ctx.request.maxTokens;
      if (max !== undefined && max < out) out = max;
      predicted.set(ctx.request, out);
    }
    return out;
  };

  const assess = (deps: SloDeps, ctx: RoutingContext, pods: readonly Pod[]): Assessment => {
    // Real token counts when a strategy of the plan tokenized the prompt; else the request's estimate.
    const promptTokens = ctx.prompt.tokens?.length ?? ctx.request.promptTokens;
    const out = predictedOutput(deps, ctx, promptTokens);
    const consumption: (number | undefined)[] = [];
    const util = new Float64Array(pods.length);
    let profiled = 0;
    for (let i = 0; i < pods.length; i++) {
      const pod = pods[i] as Pod;
      const profile = deps.profileFor(ctx.request.model, pod);
      if (profile !== undefined) profiled++;
      const c = requestConsumption(profile, promptTokens, out);
      consumption.push(c.ok ? c.value : undefined);
      util[i] = deps.pending.utilization(pod.key);
    }
    return { consumption, util, profiled };
  };

  const eligible = (a: Assessment, i: number): boolean => {
    const c = a.consumption[i];
    return c !== undefined && (!mode.capped || fitsUnderCap(a.util[i] as number, c));
  };

  return {
    type,
    reads: ["prompt", "pending-load"],
    mayWait: mode.capped,
    /**
     * Keep the pods that can take the request (a usable profile and, when capped, room under the cap), so a
     * combined plan cannot route past the cap. When none can, every pod is kept and `score` says why.
     */
    filter(ctx, pods) {
      if (slo === undefined || pods.length === 0) return pods;
      const a = assess(slo, ctx, pods);
      const keep = pods.filter((_, i) => eligible(a, i));
      return keep.length === 0 || keep.length === pods.length ? pods : keep;
    },
    /**
     * Over eligible pods' utilization `u`: least → `(max − u) / (max − min)`, most → `(u − min) / (max − min)`;
     * all equal → 1; ineligible → 0. Abstains `no-gpu-profile` (no candidate has a profile) or
     * `gpu-profile-unusable` (profiles exist, none yields a consumption); answers `wait` `no-headroom` when
     * profiles exist and no pod fits under the cap.
     */
    score(ctx, pods) {
      if (slo === undefined) return { t: "abstain", reason: "no-gpu-profile" };
      const a = assess(slo, ctx, pods);
      let min = Infinity;
      let max = -Infinity;
      let usable = 0;
      let fits = 0;
      for (let i = 0; i < pods.length; i++) {
        if (a.consumption[i] === undefined) continue;
        usable++;
        if (!eligible(a, i)) continue;
        fits++;
        const u = a.util[i] as number;
        if (u < min) min = u;
        if (u > max) max = u;
      }
      if (a.profiled === 0) return { t: "abstain", reason: "no-gpu-profile" };
      if (usable === 0) return { t: "abstain", reason: "gpu-profile-unusable" };
      if (fits === 0) return { t: "wait", reason: "no-headroom" };
      const range = max - min;
      const scores = new Float64Array(pods.length);
      for (let i = 0; i < pods.length; i++) {
        if (!eligible(a, i)) continue;
        const u = a.util[i] as number;
        if (range <= 0) scores[i] = 1;
        else scores[i] = mode.prefer === "least" ? (max - u) / range : (u - min) / range;
      }
      return { t: "scores", scores };
    },
    /** Reserve the request's consumption on `pod` (when it has a usable profile); the finisher gives it back. */
    onRouted(ctx, pod) {
      if (slo === undefined) return;
      const c = assess(slo, ctx, [pod]).consumption[0];
      if (c === undefined) return;
      // The request id is client-controlled and may repeat: the reservation key must not.
      const key = `${type}#${sequence++}#${ctx.requestId}`;
      if (!slo.pending.reserve(pod.key, key, c)) return;
      const pending = slo.pending;
      let at: string | undefined = pod.key;
      const finish = (): void => {
        if (at !== undefined) pending.release(at, key);
      };
      // Another pod served (the gateway retried a fallback): the consumption is there now, at that pod's profile.
      const moveTo = (to: Pod): void => {
        if (at !== undefined) pending.release(at, key);
        const moved = assess(slo, ctx, [to]).consumption[0];
        at = moved !== undefined && pending.reserve(to.key, key, moved) ? to.key : undefined;
      };
      return Object.assign(finish, { moveTo });
    },
  };
}

function factoryOf(type: string, mode: Mode): StrategyFactory<SloParams> {
  return {
    type,
    paramsSchema,
    contract: {
      ranksBy: mode.prefer === "least" ? "least-pending-load" : "most-pending-load-under-cap",
      abstainsWhen: ["no-gpu-profile", "gpu-profile-unusable", ...(mode.capped ? ["no-headroom"] : [])],
    } satisfies StrategyContract,
    create: (_params, deps) => createSlo(type, mode, deps.slo) satisfies Strategy,
  };
}

/** `slo`: least-load pulling under the cap (AIBrix's default SLO router). */
export const slo = factoryOf(SLO, { capped: true, prefer: "least" });
/** `slo-least-load-pulling`: the same as `slo`. */
export const sloLeastLoadPulling = factoryOf(SLO_LEAST_LOAD_PULLING, { capped: true, prefer: "least" });
/** `slo-pack-load`: the most utilized pod that still fits under the cap. */
export const sloPackLoad = factoryOf(SLO_PACK_LOAD, { capped: true, prefer: "most" });
/** `slo-least-load`: the least utilized pod, no cap (never waits). */
export const sloLeastLoad = factoryOf(SLO_LEAST_LOAD, { capped: false, prefer: "least" });
