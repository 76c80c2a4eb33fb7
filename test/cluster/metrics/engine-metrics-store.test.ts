import type { EngineMetrics } from "../../../src/cluster/engine-metrics";
import { createEngineMetricsStore } from "../../../src/cluster/metrics/engine-metrics-store";

/** A clock the test moves by hand. */
function manualClock(start = 1000): { now: () => number; set: (t: number) => void } {
  let t = start;
  return { now: () => t, set: (v) => (t = v) };
}

const metricsAt = (scrapedAtMs: number, requestsRunning = 1): EngineMetrics => ({
  scrapedAtMs,
  requestsRunning,
  byModel: new Map(),
});

describe("createEngineMetricsStore", () => {
  it("hands out metrics while now - scrapedAtMs <= staleAfterMs, then undefined", () => {
    const clock = manualClock();
    const store = createEngineMetricsStore({ staleAfterMs: 2000, now: clock.now });
    const m = metricsAt(1000);
    store.record("ns/a", m);
    expect(store.fresh("ns/a")).toBe(m);
    clock.set(3000);
    expect(store.fresh("ns/a")).toBe(m);
    clock.set(3000.001);
    expect(store.fresh("ns/a")).toBeUndefined();
    expect(store.entry("ns/a")?.metrics).toBe(m);
  });

  it("is undefined for an unknown pod", () => {
    const store = createEngineMetricsStore({ staleAfterMs: 10 });
    expect(store.fresh("nope")).toBeUndefined();
    expect(store.entry("nope")).toBeUndefined();
  });

  it("keeps the last good metrics through failures, which age out on their own", () => {
    const clock = manualClock();
    const store = createEngineMetricsStore({ staleAfterMs: 100, now: clock.now });
    const good = metricsAt(1000, 4);
    store.record("p", good);
    clock.set(1050);
    store.recordFailure("p", "timeout", "no complete response in 1000 ms");
    store.recordFailure("p", "connect-error");
    expect(store.fresh("p")).toBe(good);
    expect(store.entry("p")).toEqual({
      metrics: good,
      lastGoodMs: 1000,
      lastAttemptMs: 1050,
      lastError: { reason: "connect-error", message: "connect-error", atMs: 1050 },
      consecutiveFailures: 2,
    });
    clock.set(1101);
    expect(store.fresh("p")).toBeUndefined();
  });

  it("a good scrape clears the error and the failure count", () => {
    const clock = manualClock();
    const store = createEngineMetricsStore({ staleAfterMs: 100, now: clock.now });
    store.recordFailure("p", "http-error", "HTTP 500");
    expect(store.entry("p")).toEqual({
      lastAttemptMs: 1000,
      lastError: { reason: "http-error", message: "HTTP 500", atMs: 1000 },
      consecutiveFailures: 1,
    });
    clock.set(1010);
    store.record("p", metricsAt(1010));
    expect(store.entry("p")).toEqual({
      metrics: metricsAt(1010),
      lastGoodMs: 1010,
      lastAttemptMs: 1010,
      consecutiveFailures: 0,
    });
  });

  it("deletes, lists keys and counts pods without fresh metrics", () => {
    const clock = manualClock();
    const store = createEngineMetricsStore({ staleAfterMs: 100, now: clock.now });
    store.record("fresh", metricsAt(1000));
    store.record("old", metricsAt(800));
    store.recordFailure("never", "malformed");
    expect([...store.keys()].sort()).toEqual(["fresh", "never", "old"]);
    expect(store.staleCount()).toBe(2);
    expect(store.delete("old")).toBe(true);
    expect(store.delete("old")).toBe(false);
    expect(store.staleCount()).toBe(1);
    expect(store.fresh("old")).toBeUndefined();
  });

  it.each([-1, Number.NaN])("rejects staleAfterMs %p", (staleAfterMs) => {
    expect(() => createEngineMetricsStore({ staleAfterMs })).toThrow(RangeError);
  });
});
