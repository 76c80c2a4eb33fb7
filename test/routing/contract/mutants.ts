/**
 * Broken strategies the behavioural contract must reject: each passes the shape checks of `strategy-contract.ts`
 * (index-aligned scores in [0, 1], kebab-case reasons) and breaks one promise of its declared contract.
 *
 * @module
 */
import { z } from "zod";
import type { Pod } from "../../../src/cluster/pod";
import type { Strategy, StrategyFactory } from "../../../src/routing/framework";
import { slo } from "../../../src/routing/strategies/slo";

const noParams = z.strictObject({});

function mutant(type: string, strategy: Omit<Strategy, "type">, abstainsWhen: readonly string[] = []) {
  const factory: StrategyFactory<unknown> = {
    type,
    paramsSchema: noParams,
    contract: { ranksBy: "fewest-inflight", abstainsWhen },
    create: () => ({ type, ...strategy }),
  };
  return factory;
}

/** Declares least-request and always abstains (with a declared reason, so only behaviour can catch it). */
export const alwaysAbstains = mutant(
  "mutant-always-abstains",
  { reads: ["inflight"], score: () => ({ t: "abstain", reason: "no-signal" }) },
  ["no-signal"],
);

/** Declares least-request and ignores it: the first candidate scores 1, every other 0. */
export const ignoresItsSignal = mutant("mutant-ignores-its-signal", {
  reads: ["inflight"],
  score: (_ctx, pods) => ({ t: "scores", scores: pods.map((_, i) => (i === 0 ? 1 : 0)) }),
});

/** Ranks by in-flight requests but abstains with a reason it never declared when all pods are idle. */
export const undeclaredAbstention = mutant("mutant-undeclared-abstention", {
  reads: ["inflight"],
  score: (ctx, pods) => {
    const loads = pods.map((p: Pod) => ctx.load(p.key).requests);
    if (loads.every((x) => x === 0)) return { t: "abstain", reason: "all-idle" };
    const max = Math.max(...loads);
    return { t: "scores", scores: loads.map((x) => (max > 0 ? (max - x) / max : 1)) };
  },
});

/**
 * Declares least-pending-load and ranks by it, but its `onRouted` reserves the request's consumption and returns no
 * finisher, so the pending load never comes back.
 */
export const leaksPendingLoad: StrategyFactory<unknown> = {
  type: "mutant-leaks-pending-load",
  paramsSchema: noParams,
  contract: { ranksBy: "least-pending-load", abstainsWhen: ["no-gpu-profile"] },
  create: (_params, deps) => ({
    type: "mutant-leaks-pending-load",
    reads: ["pending-load"],
    score: (_ctx, pods) => {
      const slo = deps.slo;
      if (!slo) return { t: "abstain", reason: "no-gpu-profile" };
      const u = pods.map((p: Pod) => slo.pending.utilization(p.key));
      const min = Math.min(...u);
      return { t: "scores", scores: u.map((x) => (x === min ? 1 : 0)) };
    },
    onRouted: (ctx, pod) => {
      deps.slo?.pending.reserve(pod.key, ctx.requestId, 0.01);
    },
  }),
};

/** The `slo` strategy (capped, declares `mayWait`), except that where it would wait it abstains instead. */
export const neverWaits: StrategyFactory<unknown> = {
  ...(slo as StrategyFactory<unknown>),
  type: "mutant-never-waits",
  create: (params, deps) => {
    const inner = slo.create(slo.paramsSchema.parse(params), deps);
    return {
      ...inner,
      type: "mutant-never-waits",
      score: (ctx, pods) => {
        const r = inner.score(ctx, pods);
        return r.t === "wait" ? { t: "abstain", reason: r.reason } : r;
      },
    };
  },
};
