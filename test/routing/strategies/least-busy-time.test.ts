import { busyTimeMs, factory, TYPE } from "../../../src/routing/strategies/least-busy-time";
import { makeObservation } from "../pods";
import { expectResult, expectRoute, scoreCase, type RouteRow, type SignalCase } from "../signal-harness";
import { runStrategyContract } from "../strategy-contract";

runStrategyContract({
  name: TYPE,
  factory,
  signalSets: [
    {},
    { observations: (i) => makeObservation({ durationMs: 100 + 50 * (i % 4) }) },
    { observations: (i) => (i % 3 === 0 ? makeObservation({ durationMs: 400 }) : undefined) },
    { observations: () => makeObservation({ ttftMs: 10 }) },
  ],
});

/** A pod observed with mean request duration `durationMs`. */
const dur = (durationMs: number) => makeObservation({ durationMs });

describe(TYPE, () => {
  const strategy = factory.create({}, { now: () => 0 });

  it.each<[number, number | undefined, number | undefined]>([
    [0, undefined, 0],
    [0, 500, 0],
    [3, 200, 600],
    [2, undefined, undefined],
  ])("busyTimeMs(%d in flight, %p ms) = %p", (inflight, durationMs, expected) => {
    expect(busyTimeMs(inflight, durationMs)).toBe(expected);
  });

  it.each<[string, SignalCase, readonly number[] | string]>([
    ["least drain time scores 1", { observations: [dur(100), dur(500)], inflight: [2, 1] }, [1, 0]],
    ["a fast pod takes more requests", { observations: [dur(100), dur(400)], inflight: [3, 1] }, [1, 0]],
    [
      "an idle pod has nothing to drain, observed or not",
      { observations: [undefined, dur(100)], inflight: [0, 1] },
      [1, 0],
    ],
    ["a busy unobserved pod scores 0", { observations: [undefined, dur(100)], inflight: [1, 1] }, [0, 1]],
    ["all idle → 1", { observations: [dur(100), dur(900)], inflight: [0, 0] }, [1, 1]],
    [
      "no observations → no-observations",
      { observations: [undefined, undefined], inflight: [0, 2] },
      "no-observations",
    ],
    [
      "observations without a duration → no-observations",
      { observations: [makeObservation({ ttftMs: 5 })], inflight: [1] },
      "no-observations",
    ],
  ])("scores: %s", (_label, input, expected) => expectResult(scoreCase(strategy, input), expected));

  it.each<RouteRow>([
    [
      "picks the least busy time",
      TYPE,
      { observations: [dur(1000), dur(200), dur(300)], inflight: [1, 3, 1] },
      2,
    ],
    [
      "no observations: counted fallback to the least in flight",
      TYPE,
      { observations: [undefined, undefined], inflight: [3, 1] },
      1,
      [TYPE, "no-observations"],
    ],
    [
      "least-busy-time:2,least-request: drain time outweighs the raw count",
      "least-busy-time:2,least-request",
      { observations: [dur(100), dur(1000)], inflight: [2, 1] },
      0,
    ],
    [
      "least-busy-time,least-request:2: the raw count outweighs drain time",
      "least-busy-time,least-request:2",
      { observations: [dur(100), dur(1000)], inflight: [2, 1] },
      1,
    ],
  ])("routes: %s", expectRoute);
});
