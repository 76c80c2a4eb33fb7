/** The scrape thread's compact batch: what goes in comes out, in order, with times moved to the reader's clock. */
import type { EngineMetrics } from "../../../src/cluster/engine-metrics";
import { readWireBatch, WireWriter } from "../../../src/cluster/metrics/scrape-wire";

describe("WireWriter / readWireBatch", () => {
  it("round-trips ok and failed scrapes, models, LoRA, problems and log lines, in order", () => {
    const w = new WireWriter();
    const full: EngineMetrics = {
      scrapedAtMs: 1000,
      requestsRunning: 3,
      requestsWaiting: 0,
      kvCacheUsage: 0.25,
      prefixCacheQueriesTotal: 2e12,
      blockSize: 16,
      byModel: new Map([
        ["m1", { requestsRunning: 2, requestsWaiting: 0 }],
        ["m2", { requestsRunning: 1 }],
      ]),
      lora: { running: ["a"], waiting: [], maxLora: 4 },
    };
    w.ok(full);
    w.scrape("p1", 0.002, "ok", 1010);
    w.fail("malformed", "no samples in 3 characters (3 bytes)");
    w.problems({ malformedLines: 1, truncated: false, afterEof: false, staleSamples: 0 });
    w.log("warn", { pod: "p2" }, "failing");
    w.scrape("p2", 0.001, "malformed", 1011);
    w.ok({ scrapedAtMs: 1005, byModel: new Map() });
    w.scrape("p3", 0.003, "ok", 1012);
    expect(w.size).toBe(3);
    const out = [...readWireBatch(w.take(), 50_000)];
    expect(w.size).toBe(0);
    expect(out.map((s) => [s.key, s.result, s.seconds])).toEqual([
      ["p1", "ok", 0.002],
      ["p2", "malformed", 0.001],
      ["p3", "ok", 0.003],
    ]);
    expect(out[0]?.metrics).toEqual({ ...full, scrapedAtMs: 50_000 - 10 });
    expect(out[0]?.extras).toEqual([]);
    expect(out[1]?.metrics).toBeUndefined();
    expect(out[1]?.message).toBe("no samples in 3 characters (3 bytes)");
    expect(out[1]?.extras.map((e) => e.k)).toEqual(["problems", "log"]);
    expect(out[2]?.metrics).toEqual({ scrapedAtMs: 50_000 - 7, byModel: new Map() });
  });

  it("grows past its first capacity", () => {
    const w = new WireWriter();
    for (let i = 0; i < 500; i++) {
      w.ok({ scrapedAtMs: 0, requestsRunning: i, byModel: new Map() });
      w.scrape(`p${i}`, 0, "ok", 0);
    }
    const out = [...readWireBatch(w.take(), 0)];
    expect(out.map((s) => s.metrics?.requestsRunning)).toEqual(Array.from({ length: 500 }, (_, i) => i));
  });
});
