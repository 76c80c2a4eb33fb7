/**
 * The running-seats signal in memory: seats learned from scrapes that show a queue (never from an idle pod), grown
 * by a higher running count, overridden by `--flow-pod-max-running`; a pod is saturated once kvroute's own in-flight
 * requests reach seats + 1, counting a dispatch the moment it is reserved (between scrapes), on fresh or stale
 * metrics alike; unknown seats leave the signal off.
 */
import { createEngineMetricsStore } from "../../../src/cluster/metrics/engine-metrics-store";
import { createLoadTracker } from "../../../src/cluster/load-tracker";
import type { EngineMetrics } from "../../../src/cluster/engine-metrics";
import { createRunningSeats, RUNNING_SEATS_MAX_PODS } from "../../../src/routing/flow/running-seats";
import { modelSaturation, podSeats, podVerdict, SEATS_MARGIN } from "../../../src/routing/flow/saturation";
import type { SaturationSignals, SaturationThresholds } from "../../../src/routing/flow/saturation";
import { makePod } from "../pods";

const THRESHOLDS: SaturationThresholds = { queueDepth: 5, kvCacheUsage: 0.8, podCapacityTokens: undefined };
const metrics = (m: Partial<EngineMetrics>): EngineMetrics => ({ scrapedAtMs: 0, byModel: new Map(), ...m });

describe("running seats", () => {
  it("are unknown until a scrape shows a queue, then the highest running count", () => {
    const seats = createRunningSeats();
    seats.observe("a", metrics({ requestsRunning: 20, requestsWaiting: 0 }));
    expect(seats.get("a")).toBeUndefined();
    seats.observe("a", metrics({ requestsRunning: 8, requestsWaiting: 3 }));
    expect(seats.get("a")).toBe(8);
    seats.observe("a", metrics({ requestsRunning: 5, requestsWaiting: 9 }));
    expect(seats.get("a")).toBe(8);
    // Learned too low (the KV cache was the limit): the engine running more without a queue raises it.
    seats.observe("a", metrics({ requestsRunning: 9, requestsWaiting: 0 }));
    expect(seats.get("a")).toBe(9);
    seats.observe("a", metrics({ requestsWaiting: 4 }));
    expect(seats.get("a")).toBe(9);
  });

  it("forget the pod learned first at the bound", () => {
    const seats = createRunningSeats();
    for (let i = 0; i <= RUNNING_SEATS_MAX_PODS; i++)
      seats.observe(`p${i}`, metrics({ requestsRunning: 2, requestsWaiting: 1 }));
    expect(seats.get("p0")).toBeUndefined();
    expect(seats.get(`p${RUNNING_SEATS_MAX_PODS}`)).toBe(2);
  });
});

describe("saturation on running seats", () => {
  const [a, b] = [makePod(1), makePod(2)];

  function fleet() {
    let now = 10_000;
    const store = createEngineMetricsStore({ staleAfterMs: 1000, now: () => now });
    const load = createLoadTracker();
    const seats = createRunningSeats();
    const signals: SaturationSignals = {
      fresh: (k) => store.fresh(k),
      lastKnown: (k) => store.lastGood(k),
      load: (k) => load.get(k),
      runningSeats: (k) => {
        const m = store.fresh(k);
        if (m !== undefined) seats.observe(k, m);
        return seats.get(k);
      },
    };
    const record = (key: string, m: Partial<EngineMetrics>): void =>
      store.record(key, { scrapedAtMs: now, byModel: new Map(), ...m });
    return { load, signals, record, advance: (ms: number) => (now += ms) };
  }

  it("a pod with seats + 1 in flight is full between scrapes, counting each reservation at once", () => {
    const f = fleet();
    f.record(a.key, { requestsRunning: 4, requestsWaiting: 2, kvCacheUsage: 0.1 });
    f.load.reserve(a.key, 10);
    expect(podSeats(a.key, f.signals, THRESHOLDS)).toBe(4);
    // The engine now reports no queue, and that scrape stays "fresh" while kvroute dispatches onto the pod.
    f.record(a.key, { requestsRunning: 4, requestsWaiting: 0, kvCacheUsage: 0.1 });
    const releases = [];
    while (podVerdict(a.key, f.signals, THRESHOLDS) === "room") releases.push(f.load.reserve(a.key, 10));
    expect(f.load.get(a.key).requests).toBe(4 + SEATS_MARGIN);
    // One finishes: room again for exactly one.
    releases[0]?.();
    expect(podVerdict(a.key, f.signals, THRESHOLDS)).toBe("room");
    f.load.reserve(a.key, 10);
    expect(podVerdict(a.key, f.signals, THRESHOLDS)).toBe("full");
    // Stale metrics: the learned seats still bound the pod (unknown, counted apart).
    f.advance(5000);
    expect(podVerdict(a.key, f.signals, THRESHOLDS)).toBe("unknown-full");
  });

  it("unknown seats leave the signal off; the flag sets them for every pod", () => {
    const f = fleet();
    f.record(a.key, { requestsRunning: 3, requestsWaiting: 0 });
    f.record(b.key, { requestsRunning: 3, requestsWaiting: 0 });
    for (let i = 0; i < 50; i++) f.load.reserve(a.key, 1);
    expect(podVerdict(a.key, f.signals, THRESHOLDS)).toBe("room");
    const flagged = { ...THRESHOLDS, podMaxRunning: 2 };
    expect(podVerdict(a.key, f.signals, flagged)).toBe("full");
    expect(modelSaturation([a, b], f.signals, flagged)).toBe("free");
    for (let i = 1; i < 2 + SEATS_MARGIN; i++) f.load.reserve(b.key, 1);
    expect(modelSaturation([a, b], f.signals, flagged)).toBe("free");
    f.load.reserve(b.key, 1);
    expect(modelSaturation([a, b], f.signals, flagged)).toBe("saturated");
  });
});
