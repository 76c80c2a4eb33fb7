import { factory, TYPE } from "../../../src/routing/strategies/least-utilization";
import { makeMetrics } from "../pods";
import { expectResult, expectRoute, scoreCase, type RouteRow, type SignalCase } from "../signal-harness";
import { runStrategyContract } from "../strategy-contract";

runStrategyContract({
  name: TYPE,
  factory,
  signalSets: [
    {},
    { metrics: (i) => makeMetrics({ utilization: (i % 5) / 5 }) },
    // vLLM: fresh metrics, no utilization figure.
    { metrics: () => makeMetrics({ kvCacheUsage: 0.1, requestsRunning: 3 }) },
  ],
});

/** Fresh metrics reporting `utilization` (or not, when undefined). */
const util = (utilization?: number) =>
  makeMetrics(utilization === undefined ? { kvCacheUsage: 0.5 } : { utilization });

describe(TYPE, () => {
  const strategy = factory.create({}, { now: () => 0 });

  it.each<[string, SignalCase, readonly number[] | string]>([
    ["lowest utilization scores 1 (xLLM)", { metrics: [util(0.8), util(0.2), util(0.4)] }, [0, 1, 2 / 3]],
    ["all equal → 1", { metrics: [util(0.5), util(0.5)] }, [1, 1]],
    ["a pod not reporting it scores 0", { metrics: [util(), util(0.9)] }, [0, 1]],
    ["vLLM/SGLang report none → metric-not-reported", { metrics: [util(), util()] }, "metric-not-reported"],
    ["no fresh metrics → metrics-missing", { metrics: [undefined, undefined] }, "metrics-missing"],
  ])("scores: %s", (_label, input, expected) => expectResult(scoreCase(strategy, input), expected));

  it.each<RouteRow>([
    ["picks the least utilized", TYPE, { metrics: [util(0.7), util(0.1)], inflight: [0, 3] }, 1],
    [
      "vLLM fleet: counted fallback with metric-not-reported",
      TYPE,
      { metrics: [util(), util(), util()], inflight: [3, 2, 4] },
      1,
      [TYPE, "metric-not-reported"],
    ],
    [
      "stale metrics: counted fallback with metrics-missing",
      TYPE,
      { metrics: [undefined, undefined], inflight: [0, 1] },
      0,
      [TYPE, "metrics-missing"],
    ],
  ])("routes: %s", expectRoute);
});
