/**
 * The rig of the `prefix-affinity` tests: a fleet, the prefix indexes, the strategy, and a `route` that scores and
 * takes a pick as the director does.
 *
 * @module
 */
import type { BlockHasher } from "../../../src/prefix/block-key";
import type { Pod } from "../../../src/cluster/pod";
import type { EngineMetrics } from "../../../src/cluster/engine-metrics";
import type { RouteFinisher, ScoreResult, Strategy, StrategyDeps } from "../../../src/routing/framework";
import { factory } from "../../../src/routing/strategies/prefix-affinity";
import { makePrefixFixture, makePrompt, range } from "../../prefix/fixtures";
import type { PrefixFixture } from "../../prefix/fixtures";
import { byPod, makeContext, makeFleet, makePod, MODEL } from "../pods";
import type { Fleet } from "../pods";

export const key = (i: number) => makePod(i).key;
/** The index of the single best score, or the abstain reason. */
export const best = (r: ScoreResult): number | string => {
  if (r.t !== "scores") return r.reason;
  const s = Array.from(r.scores);
  const top = Math.max(...s);
  return s.filter((x) => x === top).length === 1 ? s.indexOf(top) : "tie";
};

/** A 40-token prompt `1..40` (10 blocks of 4); `cold(k)` a 40-token prompt no pod holds. */
export const PROMPT = range(40);
export const cold = (k: number) => range(40, 10_000 + 100 * k);

export interface Rig {
  readonly fleet: Fleet;
  readonly f: PrefixFixture;
  readonly s: Strategy;
  score(tokens?: readonly number[], metrics?: readonly (EngineMetrics | undefined)[]): ScoreResult;
  /** Route `tokens` to pod `i` through score + onRouted, as the director does; returns the finisher. */
  route(i: number, tokens: readonly number[]): RouteFinisher;
}

export function makeRig(
  hasher: BlockHasher,
  n: number,
  params: unknown = {},
  deps: Partial<StrategyDeps> = {},
): Rig {
  const fleet = makeFleet(n);
  const f = makePrefixFixture(hasher);
  const s = factory.create(factory.paramsSchema.parse(params), { now: () => 0, prefix: f.deps, ...deps });
  const ctxOf = (tokens: readonly number[], metrics: readonly (EngineMetrics | undefined)[] = []) =>
    makeContext(fleet.load, { prompt: makePrompt(hasher, tokens), metrics: byPod(fleet.pods, metrics) });
  return {
    fleet,
    f,
    s,
    score: (tokens = PROMPT, metrics = []) => s.score(ctxOf(tokens, metrics), fleet.pods),
    route(i, tokens) {
      const ctx = ctxOf(tokens);
      s.score(ctx, fleet.pods);
      const finish = s.onRouted?.(ctx, fleet.pods[i] as Pod);
      if (!finish) throw new Error("prefix-affinity must return a finisher");
      return finish;
    },
  };
}

export const OK = { kind: "success" } as const;
/** τ = 100 tokens/s × 1 s = 100 uncached tokens of look-ahead backlog. */
export const GATE_100 = { ttftPenaltySeconds: 1, prefillTokensPerSecond: { [MODEL]: 100 } };
