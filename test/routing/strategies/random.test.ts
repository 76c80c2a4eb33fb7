import { createDirector } from "../../../src/routing/director";
import { createStrategyRegistry } from "../../../src/routing/registry";
import { factory, TYPE } from "../../../src/routing/strategies/random";
import { headersOf, makeContext, makeFleet, makeRequest, seededRandom, sequence } from "../pods";
import { runStrategyContract } from "../strategy-contract";

runStrategyContract({ name: TYPE, factory });

describe("random", () => {
  const strategy = factory.create({}, { now: () => 0 });

  it.each<[number[], number[]]>([
    [
      [0.1, 0.9, 0.5],
      [0.1, 0.9, 0.5],
    ],
    [[0], [0]],
  ])("scores are the ctx.random() draws %j", (draws, expected) => {
    const fleet = makeFleet(draws.length);
    const result = strategy.score(makeContext(fleet.load, { random: sequence(draws) }), fleet.pods);
    expect(result.t === "scores" && Array.from(result.scores)).toEqual(expected);
  });

  it("picks roughly uniformly through the director", () => {
    const fleet = makeFleet(3);
    const registry = createStrategyRegistry();
    registry.register(factory);
    const director = createDirector({
      registry,
      cluster: () => fleet.store.snapshot(),
      load: fleet.load,
      defaultStrategy: TYPE,
      random: seededRandom(42),
    });
    const counts = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const pick = director.route({
        requestId: "r",
        request: makeRequest(),
        headers: headersOf(),
        strategyHeader: undefined,
      });
      if (pick.t === "none") throw new Error("expected a pick");
      counts.set(pick.pod.key, (counts.get(pick.pod.key) ?? 0) + 1);
      pick.release({ kind: "success" });
    }
    for (const pod of fleet.pods) {
      expect(counts.get(pod.key)).toBeGreaterThan(900);
      expect(counts.get(pod.key)).toBeLessThan(1100);
    }
  });
});
