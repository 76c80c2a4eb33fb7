import { factory, TYPE } from "../../../src/routing/strategies/least-gpu-cache";
import { makeMetrics } from "../pods";
import { expectResult, expectRoute, scoreCase, type RouteRow, type SignalCase } from "../signal-harness";
import { runStrategyContract } from "../strategy-contract";

runStrategyContract({
  name: TYPE,
  factory,
  signalSets: [
    {},
    { metrics: (i) => makeMetrics({ gpuCacheUsage: ((i * 3) % 7) / 7 }) },
    { metrics: (i) => (i % 3 === 0 ? makeMetrics({ gpuCacheUsage: 0.5 }) : undefined) },
    { metrics: () => makeMetrics({ kvCacheUsage: 0.5 }) },
  ],
});

/** Fresh metrics reporting `gpuCacheUsage` (or not, when undefined). */
const gpu = (gpuCacheUsage?: number) => makeMetrics(gpuCacheUsage === undefined ? {} : { gpuCacheUsage });

describe(TYPE, () => {
  const strategy = factory.create({}, { now: () => 0 });

  it.each<[string, SignalCase, readonly number[] | string]>([
    ["lowest usage scores 1", { metrics: [gpu(0.3), gpu(0.7), gpu(0.5)] }, [1, 0, 0.5]],
    ["all equal → 1", { metrics: [gpu(0), gpu(0), gpu(0)] }, [1, 1, 1]],
    [
      "reads gpuCacheUsage, not kvCacheUsage",
      { metrics: [makeMetrics({ gpuCacheUsage: 0.9, kvCacheUsage: 0 }), gpu(0.1)] },
      [0, 1],
    ],
    ["a pod without fresh metrics scores 0", { metrics: [undefined, gpu(0.9), gpu(0.1)] }, [0, 0, 1]],
    ["no fresh metrics → metrics-missing", { metrics: [undefined] }, "metrics-missing"],
    ["fresh but without the gauge → metric-not-reported", { metrics: [gpu(), gpu()] }, "metric-not-reported"],
  ])("scores: %s", (_label, input, expected) => expectResult(scoreCase(strategy, input), expected));

  it.each<RouteRow>([
    [
      "picks the emptiest GPU cache",
      TYPE,
      { metrics: [gpu(0.6), gpu(0.5), gpu(0.4)], inflight: [0, 0, 2] },
      2,
    ],
    ["mixed: the pod with the signal wins", TYPE, { metrics: [gpu(0.95), undefined], inflight: [6, 0] }, 0],
    [
      "missing metrics: counted fallback to the least in flight",
      TYPE,
      { metrics: [undefined, undefined, undefined], inflight: [1, 0, 1] },
      1,
      [TYPE, "metrics-missing"],
    ],
    [
      "least-gpu-cache:2,least-request",
      "least-gpu-cache:2,least-request",
      { metrics: [gpu(0.2), gpu(0.8)], inflight: [4, 0] },
      0,
    ],
  ])("routes: %s", expectRoute);
});
