import type { ModelLoad } from "../../../src/cluster/engine-metrics";
import { factory, TYPE } from "../../../src/routing/strategies/least-waiting";
import { makeMetrics, MODEL } from "../pods";
import { expectResult, expectRoute, scoreCase, type RouteRow, type SignalCase } from "../signal-harness";
import { runStrategyContract } from "../strategy-contract";

runStrategyContract({
  name: TYPE,
  factory,
  signalSets: [
    {},
    { metrics: (i) => makeMetrics({ requestsWaiting: i % 4 }) },
    { metrics: (i) => makeMetrics({ byModel: new Map([[MODEL, { requestsWaiting: (i * 5) % 3 }]]) }) },
    { metrics: (i) => (i % 2 === 0 ? makeMetrics({ requestsWaiting: 1 }) : undefined) },
    { metrics: () => makeMetrics({ requestsRunning: 4 }) },
  ],
});

/** Fresh metrics with a pod-wide queue `q` and optional per-model figures. */
const waiting = (q?: number, byModel: Record<string, ModelLoad> = {}) =>
  makeMetrics({
    ...(q === undefined ? {} : { requestsWaiting: q }),
    byModel: new Map(Object.entries(byModel)),
  });

describe(TYPE, () => {
  const strategy = factory.create({}, { now: () => 0 });

  it.each<[string, SignalCase, readonly number[] | string]>([
    ["shortest queue scores 1", { metrics: [waiting(4), waiting(0), waiting(2)] }, [0, 1, 0.5]],
    ["all equal → 1", { metrics: [waiting(3), waiting(3)] }, [1, 1]],
    [
      "the per-model figure wins over the pod-wide one",
      {
        metrics: [
          waiting(0, { [MODEL]: { requestsWaiting: 5 } }),
          waiting(9, { [MODEL]: { requestsWaiting: 1 } }),
        ],
      },
      [0, 1],
    ],
    [
      "another model's figure is ignored (pod-wide used)",
      { metrics: [waiting(2, { other: { requestsWaiting: 0 } }), waiting(1)] },
      [0, 1],
    ],
    [
      "a per-model entry without requestsWaiting falls back to the pod figure",
      { metrics: [waiting(1, { [MODEL]: { requestsRunning: 3 } }), waiting(3)] },
      [1, 0],
    ],
    ["a pod without fresh metrics scores 0", { metrics: [undefined, waiting(7)] }, [0, 1]],
    ["no fresh metrics → metrics-missing", { metrics: [undefined, undefined] }, "metrics-missing"],
    ["no queue figure → metric-not-reported", { metrics: [waiting(), waiting()] }, "metric-not-reported"],
  ])("scores: %s", (_label, input, expected) => expectResult(scoreCase(strategy, input), expected));

  it.each<RouteRow>([
    [
      "picks the shortest engine queue",
      TYPE,
      { metrics: [waiting(5), waiting(1), waiting(3)], inflight: [0, 2, 0] },
      1,
    ],
    [
      "missing metrics: counted fallback to the least in flight",
      TYPE,
      { metrics: [undefined, undefined], inflight: [4, 2] },
      1,
      [TYPE, "metrics-missing"],
    ],
    [
      "least-waiting,least-request:2: engine queue vs kvroute's count",
      "least-waiting,least-request:2",
      { metrics: [waiting(0), waiting(10)], inflight: [5, 0] },
      1,
    ],
  ])("routes: %s", expectRoute);
});
