import { createDirector } from "../../../src/routing/director";
import { createStrategyRegistry } from "../../../src/routing/registry";
import { factory, TYPE } from "../../../src/routing/strategies/least-request";
import { headersOf, makeContext, makeFleet, makeRequest, preload, seededRandom, type Fleet } from "../pods";
import { runStrategyContract } from "../strategy-contract";

runStrategyContract({ name: TYPE, factory });

function directorFor(fleet: Fleet, seed = 5) {
  const registry = createStrategyRegistry();
  registry.register(factory);
  const director = createDirector({
    registry,
    cluster: () => fleet.store.snapshot(),
    load: fleet.load,
    defaultStrategy: TYPE,
    random: seededRandom(seed),
  });
  return () =>
    director.route({
      requestId: "r",
      request: makeRequest(),
      headers: headersOf(),
      strategyHeader: undefined,
    });
}

describe("least-request", () => {
  const strategy = factory.create({}, { now: () => 0 });

  it.each<[string, number[], number[]]>([
    ["all idle", [0, 0, 0], [1, 1, 1]],
    ["all equal and busy", [4, 4], [1, 1]],
    ["linear", [0, 2, 4], [1, 0.5, 0]],
    ["one busy", [3, 1], [0, 1]],
    ["single pod", [9], [1]],
    ["min in the middle", [5, 1, 3], [0, 1, 0.5]],
  ])("scores %s %j as %j", (_label, inflight, expected) => {
    const fleet = makeFleet(inflight.length);
    preload(fleet.load, fleet.pods, inflight);
    const result = strategy.score(makeContext(fleet.load), fleet.pods);
    expect(result.t).toBe("scores");
    if (result.t === "scores") {
      Array.from(result.scores).forEach((s, i) => expect(s).toBeCloseTo(expected[i] as number, 12));
    }
  });

  it.each<[number[], number]>([
    [[3, 0, 2], 1],
    [[1, 2, 0, 5], 2],
    [[0, 7], 0],
  ])("picks the pod with the fewest in flight (%j → pod %d)", (inflight, expected) => {
    const fleet = makeFleet(inflight.length);
    preload(fleet.load, fleet.pods, inflight);
    const pick = directorFor(fleet)();
    expect(pick.t === "routed" && pick.pod).toBe(fleet.pods[expected]);
  });

  it("spreads back-to-back decisions across pods because the reservation is synchronous", () => {
    const fleet = makeFleet(4);
    const route = directorFor(fleet);
    const picks = Array.from({ length: 12 }, () => route());
    for (const pod of fleet.pods) expect(fleet.load.get(pod.key).requests).toBe(3);
    for (const p of picks) if (p.t !== "none") p.release({ kind: "success" });
    expect(fleet.load.totalRequests()).toBe(0);
  });

  it("refills the pod that finished first", () => {
    const fleet = makeFleet(3);
    const route = directorFor(fleet);
    const picks = [route(), route(), route()];
    const first = picks[1];
    if (!first || first.t === "none") throw new Error("expected a pick");
    first.release({ kind: "success" });
    const next = route();
    expect(next.t !== "none" && next.pod).toBe(first.pod);
  });
});
