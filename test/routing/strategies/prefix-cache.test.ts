import { createBlockHasher } from "../../../src/prefix/block-hasher";
import type { BlockHasher } from "../../../src/prefix/block-key";
import type { Pod } from "../../../src/cluster/pod";
import type { ScoreResult } from "../../../src/routing/framework";
import { factory, TYPE } from "../../../src/routing/strategies/prefix-cache";
import { STICKY_HINT_WEIGHT } from "../../../src/routing/strategies/prefix-cache/match";
import {
  makePrefixFixture,
  makePrompt,
  range,
  SEED,
  storeEvent,
  type PrefixFixture,
} from "../../prefix/fixtures";
import { makeContext, makeFleet, makePod, preload } from "../pods";
import { runStrategyContract } from "../strategy-contract";

let hasher: BlockHasher;
beforeAll(async () => {
  hasher = await createBlockHasher(SEED);
});

/** Deps for the contract: pod-0 holds 5 approximate blocks, pod-1 two, pod-2 publishes events for 2 blocks of 8. */
function contractFixture(): PrefixFixture {
  const f = makePrefixFixture(hasher);
  f.approximate.add(makePod(0).key, hasher.chain(range(20), 4, ""));
  f.approximate.add(makePod(1).key, hasher.chain(range(8), 4, ""));
  f.publishing.add(makePod(2).key);
  storeEvent(f.events, makePod(2).key, range(16), 8);
  return f;
}

runStrategyContract({
  name: TYPE,
  factory,
  deps: () => ({ now: () => 0, prefix: contractFixture().deps }),
  prompt: () => makePrompt(hasher, range(40)),
});
runStrategyContract({ name: `${TYPE} without indexes`, factory });

/** Scores of `result`, rounded to 5 places (the load tie-break is below 1e-6), or the abstain reason. */
const shown = (result: ScoreResult) =>
  result.t !== "scores" ? result.reason : Array.from(result.scores, (x) => Math.round(x * 1e5) / 1e5);

interface Setup {
  readonly pods: readonly Pod[];
  readonly f: PrefixFixture;
  readonly score: (tokens: readonly number[] | undefined, context?: string) => ScoreResult;
}

function setup(n: number, loads: readonly number[] = [], params: unknown = {}): Setup {
  const fleet = makeFleet(n);
  preload(fleet.load, fleet.pods, loads);
  const f = makePrefixFixture(hasher);
  const s = factory.create(factory.paramsSchema.parse(params), { now: () => 0, prefix: f.deps });
  return {
    pods: fleet.pods,
    f,
    score: (tokens, context = "") =>
      s.score(makeContext(fleet.load, { prompt: makePrompt(hasher, tokens, context) }), fleet.pods),
  };
}

const key = (i: number) => makePod(i).key;
const approx = (f: PrefixFixture, pod: number, tokens: readonly number[], context = "") =>
  f.approximate.add(key(pod), hasher.chain(tokens, 4, context));

describe(TYPE, () => {
  it("scores the longest run of leading blocks over the prompt's blocks", () => {
    const { f, score } = setup(3);
    approx(f, 0, range(12)); // blocks 0-2 of 5
    approx(f, 1, range(4)); // block 0
    approx(f, 2, [...range(4), 99, 99, 99, 99, ...range(4, 9)]); // block 0, then a miss
    expect(shown(score(range(20)))).toEqual([0.6, 0.2, 0.2]);
  });

  it.each<[string, readonly number[] | undefined, string]>([
    ["no tokens", undefined, "no-tokens"],
    ["empty prompt", [], "no-tokens"],
    ["shorter than a block", [1, 2, 3], "no-prefix-match"],
    ["nothing indexed", range(20), "no-prefix-match"],
  ])("abstains: %s", (_label, tokens, reason) => {
    expect(shown(setup(2).score(tokens))).toBe(reason);
  });

  it("abstains no-prefix-index without indexes", () => {
    const s = factory.create(factory.paramsSchema.parse({}), { now: () => 0 });
    const fleet = makeFleet(2);
    expect(s.score(makeContext(fleet.load, { prompt: makePrompt(hasher, range(8)) }), fleet.pods)).toEqual({
      t: "abstain",
      reason: "no-prefix-index",
    });
  });

  it("uses the event index at the engine's block size for publishing pods, the approximate one otherwise", () => {
    const { f, score } = setup(2);
    approx(f, 0, range(32)); // the approximate index claims everything for pod-0…
    approx(f, 1, range(32));
    f.publishing.add(key(0));
    storeEvent(f.events, key(0), range(8), 8); // …but pod-0's engine reported one 8-token block of 4
    expect(shown(score(range(32)))).toEqual([0.25, 1]);
  });

  it("a publishing pod without a known block size is looked up at the approximate block size", () => {
    const { f, score } = setup(1);
    f.publishing.add(key(0));
    f.events.blockStored(key(0), {
      blockHashes: [1n, 2n],
      parentBlockHash: undefined,
      tokenIds: range(8),
      blockSize: 4,
      loraName: undefined,
    });
    f.events.allBlocksCleared(key(0));
    storeEvent(f.events, key(0), range(8), 4);
    expect(shown(score(range(16)))).toEqual([0.5]);
  });

  it("keeps LoRA contexts apart", () => {
    const { f, score } = setup(2);
    approx(f, 0, range(8));
    approx(f, 1, range(8), "sql-lora");
    expect(shown(score(range(8), "sql-lora"))).toEqual([0, 1]);
    expect(shown(score(range(8)))).toEqual([1, 0]);
  });

  it.each<[string, readonly number[], number, readonly number[]]>([
    ["max − min above the threshold keeps the minimum pods", [0, 9, 3, 0], 8, [0, 3]],
    ["exactly the threshold keeps everyone (strict >)", [0, 8, 3], 8, [0, 1, 2]],
    ["a lower threshold", [1, 3, 2], 1, [0]],
  ])("load imbalance filter: %s", (_label, loads, imbalanceAbsCount, kept) => {
    const fleet = makeFleet(loads.length);
    preload(fleet.load, fleet.pods, loads);
    const s = factory.create(factory.paramsSchema.parse({ imbalanceAbsCount }), { now: () => 0 });
    const out = s.filter?.(makeContext(fleet.load), fleet.pods) ?? [];
    expect(out.map((p) => p.key)).toEqual(kept.map(key));
  });

  it("zeroes matched pods above mean + k·σ (sample σ over the candidates)", () => {
    // loads 10,0,0,0: mean 2.5, sample σ 5 → cap 7.5 with k = 1.
    const { f, score } = setup(4, [10, 0, 0, 0]);
    approx(f, 0, range(8));
    approx(f, 1, range(4));
    expect(shown(score(range(8)))).toEqual([0, 0.5, 0, 0]);
  });

  it("a larger k lets the busy pod keep its match", () => {
    const { f, score } = setup(4, [10, 0, 0, 0], { stdDevFactor: 2 });
    approx(f, 0, range(8));
    expect(shown(score(range(8)))).toEqual([1, 0, 0, 0]);
  });

  it("abstains prefix-match-overloaded when every matching pod is above the cap", () => {
    const { f, score } = setup(4, [10, 0, 0, 0]);
    approx(f, 0, range(8));
    expect(shown(score(range(8)))).toBe("prefix-match-overloaded");
  });

  it("breaks equal matches towards fewer requests in flight", () => {
    const { f, score } = setup(2, [2, 1]);
    approx(f, 0, range(8));
    approx(f, 1, range(8));
    const r = score(range(8));
    if (r.t !== "scores") throw new Error("expected scores");
    expect(r.scores[1]).toBeGreaterThan(r.scores[0] as number);
    expect(r.scores[0]).toBeGreaterThan(0.99);
  });

  it("onRouted adds the prompt's approximate keys for the chosen pod, also for publishing pods", () => {
    const { f, pods } = setup(2);
    f.publishing.add(key(1));
    const s = factory.create(factory.paramsSchema.parse({}), { now: () => 0, prefix: f.deps });
    const fleet = makeFleet(2);
    const ctx = makeContext(fleet.load, { prompt: makePrompt(hasher, range(10)) });
    s.onRouted?.(ctx, pods[1] as Pod);
    expect(f.approximate.match(hasher.chain(range(10), 4, ""), [key(0), key(1)])).toEqual(
      new Map([[key(1), 2]]),
    );
    s.onRouted?.(makeContext(fleet.load), pods[0] as Pod); // no tokens: nothing to add
    expect(f.approximate.blocks(key(0))).toBe(0);
  });

  it("with speculation, a prompt just routed to a publishing pod matches there before its events arrive", () => {
    const clock = { t: 0 };
    const fleet = makeFleet(3);
    const f = makePrefixFixture(hasher, 4, { ttlMs: 2000, now: () => clock.t });
    const s = factory.create(factory.paramsSchema.parse({}), { now: () => 0, prefix: f.deps });
    const score = (): ScoreResult =>
      s.score(makeContext(fleet.load, { prompt: makePrompt(hasher, range(32)) }), fleet.pods);
    f.publishing.add(key(0));
    f.publishing.add(key(1));
    // pod-1's engine uses 8-token blocks: the speculative keys must be at that size to match.
    storeEvent(f.events, key(1), range(8, 900), 8);
    const route = (i: number): void => {
      s.onRouted?.(makeContext(fleet.load, { prompt: makePrompt(hasher, range(32)) }), fleet.pods[i] as Pod);
    };
    route(1);
    expect(shown(score())).toEqual([0, 1, 0]);
    expect(f.speculative?.blocks(key(1))).toBe(4);
    // A pod without events is remembered by the approximate index only.
    route(2);
    expect(f.speculative?.blocks(key(2))).toBe(0);
    clock.t += 2000;
    // Expired: pod-1 keeps only the weak sticky hint of the approximate index (no publishing pod matches).
    expect(shown(score())).toEqual([0, STICKY_HINT_WEIGHT, 1]);
  });

  it("the sticky hint for publishing pods never outweighs a block their events report", () => {
    const fleet = makeFleet(3);
    const f = makePrefixFixture(hasher, 4);
    const s = factory.create(factory.paramsSchema.parse({}), { now: () => 0, prefix: f.deps });
    const ctx = (): ReturnType<typeof makeContext> =>
      makeContext(fleet.load, { prompt: makePrompt(hasher, range(32)) });
    for (let i = 0; i < 3; i++) f.publishing.add(key(i));
    s.onRouted?.(ctx(), fleet.pods[0] as Pod); // kvroute sent the prompt to pod-0: the approximate index says so
    // Nothing reported anywhere: the hint keeps the prompt on pod-0.
    expect(shown(s.score(ctx(), fleet.pods))).toEqual([STICKY_HINT_WEIGHT, 0, 0]);
    // pod-2 reports the first block: a real hit wins, and the hint is no longer consulted.
    storeEvent(f.events, key(2), range(4), 4);
    expect(shown(s.score(ctx(), fleet.pods))).toEqual([0, 0, 0.125]);
  });

  it("prefixLookup: the picked pod's hit and looked-up blocks of the decision just scored, once", () => {
    const fleet = makeFleet(3);
    const f = makePrefixFixture(hasher);
    const s = factory.create(factory.paramsSchema.parse({}), { now: () => 0, prefix: f.deps });
    approx(f, 0, range(32)); // the approximate index claims everything for pod-0…
    approx(f, 1, range(12)); // …and 3 blocks of 4 for pod-1 (no events)
    f.publishing.add(key(0));
    storeEvent(f.events, key(0), range(8), 8); // …but pod-0's engine reported one 8-token block
    f.publishing.add(key(2)); // pod-2 publishes, reported nothing: the approximate hint is no hit
    approx(f, 2, range(32));
    const ctx = makeContext(fleet.load, { prompt: makePrompt(hasher, range(32)) });
    const lookups = (): unknown[] =>
      fleet.pods.map((p) => {
        s.score(ctx, fleet.pods);
        return s.prefixLookup?.(ctx, p);
      });
    expect(lookups()).toEqual([
      { hitBlocks: 1, lookupBlocks: 4 },
      { hitBlocks: 3, lookupBlocks: 8 },
      { hitBlocks: 0, lookupBlocks: 8 }, // no event yet: looked up at the approximate block size
    ]);
    s.score(ctx, fleet.pods);
    s.prefixLookup?.(ctx, fleet.pods[0] as Pod);
    // Asked twice, or for another decision than the one scored last: nothing.
    expect(s.prefixLookup?.(ctx, fleet.pods[0] as Pod)).toBeUndefined();
    s.score(ctx, fleet.pods);
    const other = makeContext(fleet.load, { prompt: makePrompt(hasher, range(32)) });
    expect(s.prefixLookup?.(other, fleet.pods[0] as Pod)).toBeUndefined();
  });

  it("rejects unknown params", () => {
    expect(() => factory.paramsSchema.parse({ imbalance: 3 })).toThrow();
    expect(factory.paramsSchema.parse({})).toEqual({ imbalanceAbsCount: 8, stdDevFactor: 1 });
  });
});
