/**
 * The director's last step: turn the scheduler's decision into a {@link Pick}. Rank the runners-up, collect the
 * strategies' response headers, reserve load on the chosen pod, tell the strategies (`onRouted`) and tie it all
 * to the pick's lease, in one synchronous step so two decisions back to back never both see the pod as idle.
 *
 * @module
 */
import type { HealthGate, LoadTracker, Pod } from "../cluster";
import { Code } from "../errors";
import type { Pick, PrefixLookup, RouteFinisher, RoutingContext } from "./framework";
import { prefixLookupOf } from "./prefix-lookup";
import type { StrategyPlan } from "./registry";
import type { HeadroomQueue } from "./headroom-queue";
import type { FlowController } from "./flow/flow-controller";
import type { Scheduler } from "./scheduler";
import { createPickLease, type LeaseObserver } from "./pick-lease";
import { FALLBACK_ENDPOINTS, runnersUp } from "./runners-up";
import { SCORED_ENDPOINTS, endpointScores } from "./endpoint-scores";
import { calibratedPromptTokens, type PromptTokenCalibration } from "./prompt-token-calibration";

/** A decision that found no pod with headroom (internal: callers get a pick, `none` or a queue error). */
export type Waiting = { readonly t: "wait" };
export const WAITING: Waiting = { t: "wait" };

/** Response headers every strategy of the plan adds for `pod`, in plan order. */
function responseHeadersOf(
  plan: StrategyPlan,
  ctx: RoutingContext,
  pod: Pod,
): readonly (readonly [string, string])[] {
  const out: (readonly [string, string])[] = [];
  for (const { strategy } of plan.entries) {
    if (strategy.responseHeaders) out.push(...strategy.responseHeaders(ctx, pod));
  }
  return out;
}

/** Hooks the pick step calls; each optional and must not throw. */
export interface PickStepObserver extends LeaseObserver {
  /** A strategy's `onRouted` (or, through the lease, its finisher or move) threw. */
  onHookError?(strategy: string, hook: "on-routed" | "finish" | "move" | "first-token", err: unknown): void;
}

/** What the pick step needs from the director. */
export interface PickStepOptions {
  readonly scheduler: Scheduler;
  readonly load: LoadTracker;
  readonly observer: PickStepObserver;
  readonly health: HealthGate | undefined;
  readonly headroomQueue: HeadroomQueue | undefined;
  readonly flowControl: FlowController | undefined;
  readonly emitEndpointScores: boolean | undefined;
  /** Calibrates the reserved estimate and learns from each release; absent: the raw estimate. */
  readonly promptCalibration?: PromptTokenCalibration | undefined;
}

/** Score, pick, reserve and tell the strategies: one synchronous step. */
export type PickStep = (
  plan: StrategyPlan,
  spec: string,
  ready: readonly Pod[],
  ctx: RoutingContext,
  /** Prompt tokens reserved with the slot; default the request's estimate. */
  tokens?: number,
) => Pick | Waiting;

/** Create the pick step for one director. */
export function createPickStep(options: PickStepOptions): PickStep {
  const { scheduler, load, observer, health, headroomQueue, flowControl, promptCalibration } = options;
  /** Room was made on a pod of `model`: the SLO waiters (already past flow control) first, then flow control. */
  const roomMade = (model: string): void => {
    headroomQueue?.wake(model);
    flowControl?.wake(model);
  };
  const onLookupError = (type: string, err: unknown): void => observer.onHookError?.(type, "on-routed", err);
  return (
    plan: StrategyPlan,
    spec: string,
    ready: readonly Pod[],
    ctx: RoutingContext,
    reserveTokens?: number,
  ): Pick | Waiting => {
    const tokens = reserveTokens ?? calibratedPromptTokens(ctx.request, promptCalibration);
    const decision = scheduler.schedule(plan, ctx, ready, true);
    if (decision.t === "none") return { t: "none", code: Code.NoReadyPod, strategy: spec };
    if (decision.t === "wait") return WAITING;

    const pod = decision.pod;
    // Ranked before the reservation, so every candidate's load is as the scheduler saw it.
    const fallbacks = decision.ranking
      ? runnersUp({
          ...decision.ranking,
          picked: pod,
          load: ctx.load,
          ...(health ? { eligible: (p: Pod) => health.healthy(p) } : {}),
          count: FALLBACK_ENDPOINTS,
        })
      : [];
    const scored =
      options.emitEndpointScores && decision.ranking
        ? endpointScores(decision.ranking.candidates, decision.ranking.totals, pod, SCORED_ENDPOINTS)
        : [];
    // Headers before the reservation: if a strategy throws here, nothing is left reserved.
    const responseHeaders = responseHeadersOf(plan, ctx, pod);
    // The reservation happens in the same synchronous step as the decision: the next route() call, even one
    // already queued on the event loop, sees this request in the pod's load.
    const releaseLoad = load.reserve(pod.key, tokens);
    const finishers: (readonly [string, RouteFinisher])[] = [];
    // The engine's usage on release calibrates the model's estimate (text prompts of the default reservation only: a
    // token-id prompt's count is exact, and an explicit reservation is not the prompt's estimate).
    if (promptCalibration && reserveTokens === undefined && ctx.request.prompt.t === "text") {
      const { model, promptTokens: estimate } = ctx.request;
      finishers.push([
        "prompt-calibration",
        (outcome) => promptCalibration.observe(model, estimate, outcome.promptTokens),
      ]);
    }
    for (const { strategy } of plan.entries) {
      try {
        const finish = strategy.onRouted?.(ctx, pod);
        if (finish) finishers.push([strategy.type, finish]);
      } catch (err) {
        // The pod is reserved already: routing on keeps the reservation tied to a pick whose release gives it
        // back, where rethrowing would leak it. Only this strategy's bookkeeping for the request is lost.
        observer.onHookError?.(strategy.type, "on-routed", err);
      }
    }
    const prefix = prefixLookupOf(plan, ctx, pod, onLookupError);
    holdPrefill(flowControl, pod, tokens, prefix, finishers);
    // The pick's optional parts, present only when there is something to say.
    const extras = {
      ...(scored.length > 0 ? { scores: scored } : {}),
      ...(prefix === undefined ? {} : { prefix }),
    };
    // Last before the release exists: from here on nothing throws, so a probing pod's trial slot cannot leak.
    const ticket = health?.routed(pod);
    const model = ctx.request.model;
    const { release, moveTo, firstToken } = createPickLease({
      pod,
      tokens,
      load,
      releaseLoad,
      finishers,
      ...(health && ticket ? { health: { gate: health, ticket } } : {}),
      observer,
      // Last: the load and the strategies' reservations are given back, so a waiter may now fit.
      afterRelease: () => roomMade(model),
      // The pick's pod got its slot (and strategies' reservations) back: a waiter may fit there now.
      afterMove: () => roomMade(model),
      // The pod has prefilled this prompt: its queued prefill delay dropped, so flow control's waiters may go now
      // rather than at the next scrape or re-check (the SLO waiters wait for a release: nothing changed for them).
      afterFirstToken: () => flowControl?.wake(model),
    });
    const picked = {
      pod,
      strategy: spec,
      responseHeaders,
      release,
      moveTo,
      firstToken,
      fallbacks,
      ...extras,
    };
    return decision.t === "routed"
      ? { t: "routed", ...picked }
      : { t: "fallback", reason: decision.reason, fallbackTo: decision.fallbackTo, ...picked };
  };
}

/**
 * Hold the pick's uncached prompt tokens (its reserved tokens less the prefix hit, when a lookup says it) in flow
 * control's prefill backlog; its first token or its finisher gives them back, and a move carries them (in full:
 * the serving pod's cache is not known) to the pod that served.
 */
function holdPrefill(
  flowControl: FlowController | undefined,
  pod: Pod,
  tokens: number,
  prefix: PrefixLookup | undefined,
  finishers: (readonly [string, RouteFinisher])[],
): void {
  const hit = prefix && prefix.lookupBlocks > 0 ? prefix.hitBlocks / prefix.lookupBlocks : 0;
  const held = flowControl?.holdPrefill(pod.key, Math.ceil(tokens * (1 - Math.min(1, hit))));
  if (held === undefined) return;
  const finish: RouteFinisher = Object.assign(() => held.release(), {
    moveTo: (to: Pod) => held.moveTo(to.key),
    firstToken: () => held.prefilled(),
  });
  finishers.push(["flow-prefill", finish]);
}
