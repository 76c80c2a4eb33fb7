import { factory, spareTokensPerSecond, TYPE } from "../../../src/routing/strategies/throughput";
import { makeObservation } from "../pods";
import { expectResult, expectRoute, scoreCase, type RouteRow, type SignalCase } from "../signal-harness";
import { runStrategyContract } from "../strategy-contract";

runStrategyContract({
  name: TYPE,
  factory,
  signalSets: [
    {},
    { observations: (i) => makeObservation({ outputTokensPerSecond: 20 + (i % 5) * 10 }) },
    { observations: (i) => (i % 2 === 1 ? makeObservation({ outputTokensPerSecond: 0 }) : undefined) },
    { observations: () => makeObservation({ durationMs: 100 }) },
  ],
});

/** A pod observed at `outputTokensPerSecond` per request. */
const tps = (outputTokensPerSecond: number) => makeObservation({ outputTokensPerSecond });

describe(TYPE, () => {
  const strategy = factory.create({}, { now: () => 0 });

  it.each<[number | undefined, number, number | undefined]>([
    [100, 0, 100],
    [100, 3, 25],
    [0, 2, 0],
    [undefined, 0, undefined],
  ])("spareTokensPerSecond(%p tok/s, %d in flight) = %p", (rate, inflight, expected) => {
    expect(spareTokensPerSecond(rate, inflight)).toBe(expected);
  });

  it.each<[string, SignalCase, readonly number[] | string]>([
    ["fastest idle pod scores 1", { observations: [tps(50), tps(100), tps(75)] }, [0, 1, 0.5]],
    ["load shares the rate", { observations: [tps(50), tps(100)], inflight: [0, 2] }, [1, 0]],
    ["all equal → 1", { observations: [tps(60), tps(30)], inflight: [1, 0] }, [1, 1]],
    [
      "a pod without a rate scores 0",
      { observations: [tps(100), tps(100), undefined], inflight: [1, 0, 0] },
      [0, 1, 0],
    ],
    ["no observations → no-observations", { observations: [undefined, undefined] }, "no-observations"],
    [
      "observations without a rate → no-observations",
      { observations: [makeObservation({ ttftMs: 3 })] },
      "no-observations",
    ],
  ])("scores: %s", (_label, input, expected) => expectResult(scoreCase(strategy, input), expected));

  it.each<RouteRow>([
    [
      "picks the most spare throughput",
      TYPE,
      { observations: [tps(40), tps(120), tps(90)], inflight: [0, 2, 1] },
      2,
    ],
    [
      "mixed: an observed pod beats an unobserved one",
      TYPE,
      { observations: [tps(1), undefined], inflight: [5, 0] },
      0,
    ],
    [
      "no observations: counted fallback to the least in flight",
      TYPE,
      { observations: [undefined, undefined, undefined], inflight: [2, 0, 1] },
      1,
      [TYPE, "no-observations"],
    ],
    [
      "throughput:3,least-request",
      "throughput:3,least-request",
      { observations: [tps(200), tps(100)], inflight: [1, 0] },
      1,
    ],
  ])("routes: %s", expectRoute);
});
