import type { Pod } from "../../../src/cluster/pod";
import { createDirector } from "../../../src/routing/director";
import { createStrategyRegistry } from "../../../src/routing/registry";
import { factory, RUNNER_UP_SCORE, TYPE, WINNER_SCORE } from "../../../src/routing/strategies/power-of-two";
import { headersOf, makeContext, makeFleet, makeRequest, preload, seededRandom, sequence } from "../pods";
import { runStrategyContract } from "../strategy-contract";

runStrategyContract({ name: TYPE, factory });

describe("power-of-two", () => {
  const strategy = factory.create({}, { now: () => 0 });

  it.each<[string, number[], number[], number[]]>([
    // draws: a = floor(d0·n), b = floor(d1·(n−1)) skipping over a
    ["single pod", [7], [0.9, 0.9], [1]],
    ["second sample less busy", [5, 1, 0], [0.0, 0.0], [RUNNER_UP_SCORE, WINNER_SCORE, 0]],
    ["first sample less busy", [0, 1, 5], [0.0, 0.0], [WINNER_SCORE, RUNNER_UP_SCORE, 0]],
    ["tie goes to the first drawn", [2, 2, 0], [0.5, 0.0], [RUNNER_UP_SCORE, WINNER_SCORE, 0]],
    ["b skips over a", [3, 3, 1], [0.0, 0.99], [RUNNER_UP_SCORE, 0, WINNER_SCORE]],
    ["the idle unsampled pod scores 0", [4, 9, 0, 9], [0.3, 0.0], [WINNER_SCORE, RUNNER_UP_SCORE, 0, 0]],
  ])("%s: loads %j, draws %j → %j", (_label, inflight, draws, expected) => {
    const fleet = makeFleet(inflight.length);
    preload(fleet.load, fleet.pods, inflight);
    const result = strategy.score(makeContext(fleet.load, { random: sequence(draws) }), fleet.pods);
    expect(result.t === "scores" && Array.from(result.scores)).toEqual(expected);
  });

  it("never picks the busier of its two samples, and the two are distinct", () => {
    for (let seed = 0; seed < 200; seed++) {
      const fleet = makeFleet(2 + (seed % 7));
      const rng = seededRandom(seed);
      preload(
        fleet.load,
        fleet.pods,
        fleet.pods.map(() => Math.floor(rng() * 5)),
      );
      const draws: number[] = [];
      const source = seededRandom(seed + 1000);
      const random = () => {
        const v = source();
        draws.push(v);
        return v;
      };
      const registry = createStrategyRegistry();
      registry.register(factory);
      const director = createDirector({
        registry,
        cluster: () => fleet.store.snapshot(),
        load: fleet.load,
        defaultStrategy: TYPE,
        random,
      });
      const n = fleet.pods.length;
      const before = fleet.pods.map((p) => fleet.load.get(p.key).requests);
      const pick = director.route({
        requestId: "r",
        request: makeRequest(),
        headers: headersOf(),
        strategyHeader: undefined,
      });
      if (pick.t !== "routed") throw new Error("expected routed");
      const a = Math.floor((draws[0] as number) * n);
      let b = Math.floor((draws[1] as number) * (n - 1));
      if (b >= a) b++;
      expect(a).not.toBe(b);
      const chosen = fleet.pods.indexOf(pick.pod as Pod);
      expect([a, b]).toContain(chosen);
      const other = chosen === a ? b : a;
      expect(before[chosen]).toBeLessThanOrEqual(before[other] as number);
      if (before[a] === before[b]) expect(chosen).toBe(a);
    }
  });

  it("samples every pair over many decisions", () => {
    const fleet = makeFleet(4);
    const random = seededRandom(9);
    const ctx = makeContext(fleet.load, { random });
    const pairs = new Set<string>();
    for (let k = 0; k < 500; k++) {
      const r = strategy.score(ctx, fleet.pods);
      if (r.t !== "scores") throw new Error("expected scores");
      const sampled = Array.from(r.scores).flatMap((s, i) => (s > 0 ? [i] : []));
      expect(sampled).toHaveLength(2);
      pairs.add(sampled.join(","));
    }
    expect(pairs.size).toBe(6);
  });
});
