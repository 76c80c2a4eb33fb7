/**
 * Label cardinality stays bounded and collapsed series add up.
 */
import { createClusterStore } from "../../src/cluster/cluster-state";
import { createLoadTracker } from "../../src/cluster/load-tracker";
import { createLabelLimiter } from "../../src/observability/label-limiter";
import { createMetrics } from "../../src/observability/metrics";
import { pod } from "../extproc/harness";

describe("label limiter", () => {
  it("admits the first N values and maps the rest to other", () => {
    const l = createLabelLimiter(2);
    expect(["a", "b", "c", "a", "d"].map((v) => l.admit(v))).toEqual(["a", "b", "other", "a", "other"]);
    expect(l.size).toBe(2);
  });
});

describe("metrics", () => {
  it("per-pod in-flight series beyond the bound sum into other", async () => {
    const cluster = createClusterStore();
    cluster.replace([pod("a", "10.0.0.1", ["m"]), pod("b", "10.0.0.2", ["m"]), pod("c", "10.0.0.3", ["m"])]);
    const load = createLoadTracker();
    const metrics = createMetrics(load, cluster, { maxPodSeries: 1 });
    load.reserve("default/a", 10);
    load.reserve("default/b", 10);
    load.reserve("default/c", 10);
    load.reserve("default/c", 10);
    const text = await metrics.registry.getSingleMetricAsString("kvroute_inflight_requests");
    expect(text).toContain('kvroute_inflight_requests{pod="a"} 1');
    expect(text).toContain('kvroute_inflight_requests{pod="other"} 3');
    expect(text.match(/^kvroute_inflight_requests\{/gm)).toHaveLength(2);
  });
});
