/**
 * Label cardinality stays bounded and collapsed series add up.
 */
import { createClusterStore } from "../../src/cluster/cluster-state";
import { createLoadTracker } from "../../src/cluster/load-tracker";
import { createLabelLimiter } from "../../src/observability/label-limiter";
import { createMetrics } from "../../src/observability/metrics";
import { createPodLabel } from "../../src/observability/pod-label";
import { pod } from "../extproc/harness";

describe("label limiter", () => {
  it("admits the first N values and maps the rest to other", () => {
    const l = createLabelLimiter(2);
    expect(["a", "b", "c", "a", "d"].map((v) => l.admit(v))).toEqual(["a", "b", "other", "a", "other"]);
    expect(l.size).toBe(2);
  });
});

describe("pod label", () => {
  it("admits current pods up to the bound, names departed pods `departed`, and frees their slots", () => {
    const cluster = createClusterStore();
    cluster.replace([pod("a", "127.0.0.1", ["m"]), pod("b", "127.0.0.2", ["m"])]);
    const l = createPodLabel(cluster, 1);
    expect([l.admit("a"), l.admit("b"), l.admit("zz")]).toEqual(["a", "other", "departed"]);
    // a leaves, c arrives: a's slot goes to c.
    cluster.replace([pod("b", "127.0.0.2", ["m"]), pod("c", "127.0.0.3", ["m"])]);
    expect([l.admit("a"), l.admit("c"), l.admit("b")]).toEqual(["departed", "c", "other"]);
    expect(l.size).toBe(1);
  });
});

describe("metrics", () => {
  it("removes every series of a departed pod, histograms included, and keeps the others", async () => {
    const cluster = createClusterStore();
    cluster.replace([pod("a", "127.0.0.1", ["m"]), pod("b", "127.0.0.2", ["m"])]);
    const metrics = createMetrics(createLoadTracker(), cluster);
    for (const name of ["a", "b"]) {
      const p = metrics.podLabel.admit(name);
      metrics.scrapes.inc({ pod: p, result: "ok" });
      metrics.scrapes.inc({ pod: p, result: "timeout" });
      metrics.scrapeSeconds.observe({ pod: p }, 0.01);
      metrics.kvEventIssues.inc({ pod: p, kind: "gap" });
    }
    cluster.replace([pod("b", "127.0.0.2", ["m"])]);
    // 2 scrape series, 1 histogram series, 1 issue series.
    expect(await metrics.removeDepartedPodSeries()).toBe(4);
    const text = await metrics.registry.metrics();
    expect(text).not.toMatch(/pod="a"/);
    expect(text).toMatch(/kvroute_engine_scrape_duration_seconds_count\{pod="b"\} 1/);
    expect(text).toMatch(/kvroute_engine_scrapes_total\{pod="b",result="timeout"\} 1/);
  });

  it("labels models no pod names `unknown`", () => {
    const cluster = createClusterStore();
    cluster.replace([pod("a", "127.0.0.1", ["m"]), pod("any", "127.0.0.2", ["*"])]);
    const metrics = createMetrics(createLoadTracker(), cluster);
    expect(["m", "client-chosen", "*"].map((m) => metrics.modelLabel.admit(m))).toEqual([
      "m",
      "unknown",
      "unknown",
    ]);
  });

  it("per-pod in-flight series beyond the bound sum into other", async () => {
    const cluster = createClusterStore();
    cluster.replace([
      pod("a", "127.0.0.1", ["m"]),
      pod("b", "127.0.0.2", ["m"]),
      pod("c", "127.0.0.3", ["m"]),
    ]);
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

describe("counters kept outside prom-client until a scrape", () => {
  it("renders ext_proc message counts by kind and the log lines dropped, as they stand at each scrape", async () => {
    let dropped = 0;
    const metrics = createMetrics(createLoadTracker(), createClusterStore(), {
      logDroppedLines: () => dropped,
    });
    for (const kind of ["request_headers", "response_body", "response_body", "empty"])
      metrics.countMessage(kind);
    const first = await metrics.registry.metrics();
    expect(first).toContain('kvroute_extproc_messages_total{kind="request_headers"} 1');
    expect(first).toContain('kvroute_extproc_messages_total{kind="response_body"} 2');
    expect(first).toContain('kvroute_extproc_messages_total{kind="empty"} 1');
    expect(first).toContain("kvroute_log_lines_dropped_total 0");
    metrics.countMessage("response_body");
    dropped = 3;
    const second = await metrics.registry.metrics();
    expect(second).toContain('kvroute_extproc_messages_total{kind="response_body"} 3');
    expect(second).toContain("kvroute_log_lines_dropped_total 3");
  });

  it("renders the scrape thread's dropped results and restarts once followed (0 while scraping is in-process)", async () => {
    const metrics = createMetrics(createLoadTracker(), createClusterStore());
    const before = await metrics.registry.metrics();
    expect(before).toContain("kvroute_engine_scrape_results_dropped_total 0");
    expect(before).toContain("kvroute_engine_scrape_thread_restarts_total 0");
    const thread = { droppedResults: 0, threadRestarts: 0 };
    metrics.followScrapeThread(() => thread);
    thread.droppedResults = 12;
    thread.threadRestarts = 1;
    const after = await metrics.registry.metrics();
    expect(after).toContain("kvroute_engine_scrape_results_dropped_total 12");
    expect(after).toContain("kvroute_engine_scrape_thread_restarts_total 1");
  });
});
