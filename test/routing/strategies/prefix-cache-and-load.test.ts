import { createBlockHasher } from "../../../src/prefix/block-hasher";
import type { BlockHasher } from "../../../src/prefix/block-key";
import type { Pod } from "../../../src/cluster/pod";
import type { EngineMetrics } from "../../../src/cluster/engine-metrics";
import type { ScoreResult } from "../../../src/routing/framework";
import { factory, TYPE } from "../../../src/routing/strategies/prefix-cache-and-load";
import { makePrefixFixture, makePrompt, range, SEED } from "../../prefix/fixtures";
import { byPod, makeContext, makeFleet, makeMetrics, makePod } from "../pods";
import { runStrategyContract } from "../strategy-contract";
import { prefixContractFixture } from "./prefix-contract-fixture";

let hasher: BlockHasher;
beforeAll(async () => {
  hasher = await createBlockHasher(SEED);
});

runStrategyContract({
  name: TYPE,
  factory,
  deps: () => ({ now: () => 0, prefix: prefixContractFixture(hasher).deps }),
  prompt: () => makePrompt(hasher, range(40)),
  signalSets: [
    {},
    { metrics: (i) => makeMetrics({ requestsWaiting: i % 3, kvCacheUsage: (i % 4) / 4 }) },
    { metrics: (i) => (i % 2 === 0 ? makeMetrics({ kvCacheUsage: Number.NaN }) : undefined) },
  ],
});
runStrategyContract({ name: `${TYPE} without indexes`, factory });

const key = (i: number) => makePod(i).key;
const shown = (result: ScoreResult) =>
  result.t !== "scores" ? result.reason : Array.from(result.scores, (x) => Math.round(x * 1e4) / 1e4);

interface Case {
  /** Prompt tokens in flight per pod (one request each). */
  readonly inflightTokens?: readonly number[];
  /** Tokens of the prompt each pod holds (a prefix of `range(prompt)`), approximate index, block 4. */
  readonly held?: readonly number[];
  readonly metrics?: readonly (EngineMetrics | undefined)[];
  readonly params?: unknown;
  /** Prompt length (tokens `1..prompt`). */
  readonly prompt?: number;
}

function run(n: number, c: Case): ScoreResult {
  const fleet = makeFleet(n);
  (c.inflightTokens ?? []).forEach((t, i) => fleet.load.reserve(key(i), t));
  const f = makePrefixFixture(hasher);
  (c.held ?? []).forEach((t, i) => {
    if (t > 0) f.approximate.add(key(i), hasher.chain(range(t), 4, ""));
  });
  const s = factory.create(factory.paramsSchema.parse(c.params ?? {}), { now: () => 0, prefix: f.deps });
  const ctx = makeContext(fleet.load, {
    prompt: makePrompt(hasher, range(c.prompt ?? 40)),
    metrics: byPod(fleet.pods, c.metrics ?? []),
  });
  return s.score(ctx, fleet.pods);
}

describe(TYPE, () => {
  it.each<[string, number, Case, readonly number[] | string]>([
    ["idle pods: the one holding the prefix wins", 2, { held: [40, 0] }, [1, 0]],
    // raw = α·h − β·load: pod-0 1 − (0 + 0) = 1, pod-1 0.5 − (0 + 0.5) = 0, pod-2 0 − 1 = −1.
    ["partial hits rank in between", 3, { held: [40, 20, 0] }, [1, 0.5, 0]],
    // pod-0: 1 − 60/40 = −0.5; pod-1: 0 − 1 = −1 → pod-0 still ahead.
    [
      "a hot pod keeps winning while its lead is under T·(1 + α/β)",
      2,
      { held: [40, 0], inflightTokens: [60, 0] },
      [1, 0],
    ],
    // pod-0: 1 − 100/40 = −1.5; pod-1: −1 → the idle pod wins: the hot prefix cannot bury pod-0.
    ["…and loses once in-flight tokens exceed it", 2, { held: [40, 0], inflightTokens: [100, 0] }, [0, 1]],
    ["no match anywhere still ranks by load", 2, { inflightTokens: [40, 0] }, [0, 1]],
    ["all equal → 1", 3, {}, [1, 1, 1]],
    [
      "waiting queue and KV usage count when metrics are fresh",
      3,
      { metrics: [makeMetrics({ requestsWaiting: 4 }), makeMetrics({ kvCacheUsage: 1 }), undefined] },
      // loads: 1 + 0.5·4 = 3, 1 + 1 = 2, 1 → raw −3, −2, −1
      [0, 0.5, 1],
    ],
    [
      "a larger α favours locality",
      2,
      { held: [40, 0], inflightTokens: [100, 0], params: { alpha: 3 } },
      [1, 0],
    ],
    ["short prompt (under one block): load only", 2, { prompt: 3, inflightTokens: [0, 5] }, [1, 0]],
  ])("%s", (_label, n, c, expected) => {
    expect(shown(run(n, c))).toEqual(expected);
  });

  it("abstains no-tokens without tokens and no-prefix-index without indexes", () => {
    const fleet = makeFleet(2);
    const f = makePrefixFixture(hasher);
    const withIdx = factory.create(factory.paramsSchema.parse({}), { now: () => 0, prefix: f.deps });
    expect(shown(withIdx.score(makeContext(fleet.load), fleet.pods))).toBe("no-tokens");
    const without = factory.create(factory.paramsSchema.parse({}), { now: () => 0 });
    const ctx = makeContext(fleet.load, { prompt: makePrompt(hasher, range(8)) });
    expect(shown(without.score(ctx, fleet.pods))).toBe("no-prefix-index");
  });

  it("onRouted records the prompt in the approximate index", () => {
    const fleet = makeFleet(1);
    const f = makePrefixFixture(hasher);
    const s = factory.create(factory.paramsSchema.parse({}), { now: () => 0, prefix: f.deps });
    s.onRouted?.(makeContext(fleet.load, { prompt: makePrompt(hasher, range(16)) }), fleet.pods[0] as Pod);
    expect(f.approximate.blocks(key(0))).toBe(4);
  });

  it("has documented defaults and rejects unknown params", () => {
    expect(factory.paramsSchema.parse({})).toEqual({ alpha: 1, beta: 1, waitingWeight: 0.5, kvWeight: 1 });
    expect(() => factory.paramsSchema.parse({ gamma: 1 })).toThrow();
  });
});
