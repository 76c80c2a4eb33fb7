import { factory, TYPE } from "../../../src/routing/strategies/least-kv-cache";
import { makeMetrics } from "../pods";
import { expectResult, expectRoute, scoreCase, type RouteRow, type SignalCase } from "../signal-harness";
import { runStrategyContract } from "../strategy-contract";

runStrategyContract({
  name: TYPE,
  factory,
  signalSets: [
    {},
    { metrics: (i) => makeMetrics({ kvCacheUsage: (i % 4) / 4 }) },
    { metrics: (i) => (i % 2 === 1 ? makeMetrics({ kvCacheUsage: 0.3 }) : undefined) },
    { metrics: () => makeMetrics({ requestsWaiting: 2 }) },
  ],
});

/** Fresh metrics reporting `kvCacheUsage` (or not, when undefined). */
const kv = (kvCacheUsage?: number) => makeMetrics(kvCacheUsage === undefined ? {} : { kvCacheUsage });

describe(TYPE, () => {
  const strategy = factory.create({}, { now: () => 0 });

  it.each<[string, SignalCase, readonly number[] | string]>([
    ["lowest usage scores 1, highest 0", { metrics: [kv(0.9), kv(0.1), kv(0.5)] }, [0, 1, 0.5]],
    ["all equal → 1", { metrics: [kv(0.4), kv(0.4)] }, [1, 1]],
    ["a single pod → 1", { metrics: [kv(0.99)] }, [1]],
    [
      "needs no cpu_cache_usage (vLLM v1 reports only kv_cache_usage_perc)",
      { metrics: [kv(0.2), kv(0.6)] },
      [1, 0],
    ],
    ["a pod without fresh metrics scores 0", { metrics: [kv(0.8), undefined, kv(0.2)] }, [0, 0, 1]],
    ["a pod not reporting the gauge scores 0", { metrics: [kv(), kv(0.7)] }, [0, 1]],
    ["a non-finite reading counts as not reported", { metrics: [kv(NaN), kv(0.3)] }, [0, 1]],
    ["no fresh metrics → metrics-missing", { metrics: [undefined, undefined] }, "metrics-missing"],
    [
      "fresh but without the gauge → metric-not-reported",
      { metrics: [kv(), makeMetrics({ gpuCacheUsage: 0.2 }), undefined] },
      "metric-not-reported",
    ],
  ])("scores: %s", (_label, input, expected) => expectResult(scoreCase(strategy, input), expected));

  it.each<RouteRow>([
    [
      "picks the emptiest cache over load",
      TYPE,
      { metrics: [kv(0.9), kv(0.2), kv(0.5)], inflight: [0, 5, 0] },
      1,
    ],
    ["mixed: the pod with the signal wins", TYPE, { metrics: [undefined, kv(0.9)], inflight: [0, 4] }, 1],
    [
      "stale/missing metrics: counted fallback to the least in flight",
      TYPE,
      { metrics: [undefined, undefined, undefined], inflight: [2, 1, 0] },
      2,
      [TYPE, "metrics-missing"],
    ],
    [
      "no pod reports the gauge: fallback with metric-not-reported",
      TYPE,
      { metrics: [kv(), kv()], inflight: [1, 0] },
      1,
      [TYPE, "metric-not-reported"],
    ],
    [
      "least-kv-cache:2,least-request: the cache outweighs load",
      "least-kv-cache:2,least-request",
      { metrics: [kv(0.1), kv(0.9)], inflight: [3, 0] },
      0,
    ],
    [
      "least-kv-cache,least-request:3: load outweighs the cache",
      "least-kv-cache,least-request:3",
      { metrics: [kv(0.1), kv(0.9)], inflight: [3, 0] },
      1,
    ],
    [
      "least-kv-cache:2,least-request with metrics missing: least-request decides, no fallback",
      "least-kv-cache:2,least-request",
      { metrics: [undefined, undefined], inflight: [3, 0] },
      1,
    ],
  ])("routes: %s", expectRoute);
});
