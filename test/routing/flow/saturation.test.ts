/**
 * The saturation detector in memory: the engine's waiting queue and KV-cache usage against their thresholds, the
 * in-flight token look-ahead against a pod's capacity (flag, engine, default), one pod with room enough for the
 * model, and stale or missing metrics judged as unknown — never as idle — on kvroute's own in-flight work.
 */
import { createEngineMetricsStore } from "../../../src/cluster/metrics/engine-metrics-store";
import { createLoadTracker } from "../../../src/cluster/load-tracker";
import type { EngineMetrics } from "../../../src/cluster/engine-metrics";
import {
  DEFAULT_POD_CAPACITY_TOKENS,
  isSaturated,
  modelSaturation,
  podCapacityTokens,
  podVerdict,
  podsWithRoom,
} from "../../../src/routing/flow/saturation";
import type { SaturationSignals, SaturationThresholds } from "../../../src/routing/flow/saturation";
import { makePod } from "../pods";

const THRESHOLDS: SaturationThresholds = { queueDepth: 5, kvCacheUsage: 0.8, podCapacityTokens: undefined };
const STALE_AFTER_MS = 1000;

function fleet() {
  let now = 10_000;
  const store = createEngineMetricsStore({ staleAfterMs: STALE_AFTER_MS, now: () => now });
  const load = createLoadTracker();
  const signals: SaturationSignals = {
    fresh: (k) => store.fresh(k),
    lastKnown: (k) => store.lastGood(k),
    load: (k) => load.get(k),
  };
  const record = (key: string, m: Partial<EngineMetrics>): void =>
    store.record(key, { scrapedAtMs: now, byModel: new Map(), ...m });
  return {
    store,
    load,
    signals,
    record,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe("saturation detector", () => {
  const [a, b] = [makePod(1), makePod(2)];

  it("a pod is full above the waiting-queue or KV-cache threshold, with room at them", () => {
    const f = fleet();
    f.record(a.key, { requestsWaiting: 5, kvCacheUsage: 0.8 });
    expect(podVerdict(a.key, f.signals, THRESHOLDS)).toBe("room");
    f.record(a.key, { requestsWaiting: 6, kvCacheUsage: 0.1 });
    expect(podVerdict(a.key, f.signals, THRESHOLDS)).toBe("full");
    f.record(a.key, { requestsWaiting: 0, kvCacheUsage: 0.81 });
    expect(podVerdict(a.key, f.signals, THRESHOLDS)).toBe("full");
  });

  it("in-flight tokens over the share of capacity make a pod full before the engine shows it", () => {
    const f = fleet();
    f.record(a.key, { requestsWaiting: 0, kvCacheUsage: 0, blockSize: 16, numGpuBlocks: 100 });
    expect(podCapacityTokens(a.key, f.signals, THRESHOLDS)).toBe(1600);
    f.load.reserve(a.key, 1280);
    expect(podVerdict(a.key, f.signals, THRESHOLDS)).toBe("room");
    f.load.reserve(a.key, 1);
    expect(podVerdict(a.key, f.signals, THRESHOLDS)).toBe("full");
    // The flag wins over the engine's figure.
    expect(podCapacityTokens(a.key, f.signals, { ...THRESHOLDS, podCapacityTokens: 10_000 })).toBe(10_000);
    expect(podVerdict(a.key, f.signals, { ...THRESHOLDS, podCapacityTokens: 10_000 })).toBe("room");
    // Nothing reported and no flag: the default.
    expect(podCapacityTokens(b.key, f.signals, THRESHOLDS)).toBe(DEFAULT_POD_CAPACITY_TOKENS);
  });

  it("one pod with room is enough; every pod measured full is saturated", () => {
    const f = fleet();
    f.record(a.key, { requestsWaiting: 9 });
    f.record(b.key, { requestsWaiting: 0 });
    expect(modelSaturation([a, b], f.signals, THRESHOLDS)).toBe("free");
    f.record(b.key, { kvCacheUsage: 0.95 });
    expect(modelSaturation([a, b], f.signals, THRESHOLDS)).toBe("saturated");
    expect(isSaturated("saturated")).toBe(true);
    // An unready pod does not count, whatever its figures.
    f.record(b.key, { requestsWaiting: 0 });
    expect(modelSaturation([a, { ...b, ready: false }], f.signals, THRESHOLDS)).toBe("saturated");
    // No ready pod at all: nothing to wait for.
    expect(modelSaturation([{ ...a, ready: false }], f.signals, THRESHOLDS)).toBe("free");
  });

  it("stale metrics are unknown, not idle: judged on in-flight work alone, and counted apart", () => {
    const f = fleet();
    const small = { ...THRESHOLDS, podCapacityTokens: 100 };
    // Idle by its last scrape, but that scrape is stale: the idle figures are not believed.
    f.record(a.key, { requestsWaiting: 0, kvCacheUsage: 0 });
    f.advance(STALE_AFTER_MS + 1);
    expect(podVerdict(a.key, f.signals, small)).toBe("unknown-room");
    expect(modelSaturation([a], f.signals, small)).toBe("unknown-free");
    f.load.reserve(a.key, 81);
    expect(podVerdict(a.key, f.signals, small)).toBe("unknown-full");
    expect(modelSaturation([a], f.signals, small)).toBe("unknown-saturated");
    expect(isSaturated("unknown-saturated")).toBe(true);
    // A measured pod with room beats an unknown one; a measured full one leaves the verdict to the unknown.
    f.record(b.key, { requestsWaiting: 0 });
    expect(modelSaturation([a, b], f.signals, small)).toBe("free");
    f.record(b.key, { requestsWaiting: 50 });
    expect(modelSaturation([a, b], f.signals, small)).toBe("unknown-saturated");
    // Never scraped at all: unknown too.
    expect(podVerdict(makePod(3).key, f.signals, small)).toBe("unknown-room");
  });

  it("a stale pod keeps the capacity its engine last reported", () => {
    const f = fleet();
    f.record(a.key, { blockSize: 16, numGpuBlocks: 10 });
    f.advance(STALE_AFTER_MS + 1);
    expect(podCapacityTokens(a.key, f.signals, THRESHOLDS)).toBe(160);
    f.load.reserve(a.key, 129);
    expect(podVerdict(a.key, f.signals, THRESHOLDS)).toBe("unknown-full");
  });
});

describe("podsWithRoom", () => {
  const [a, b, c] = [makePod(1), makePod(2), makePod(3)];

  it("keeps the pods with room, in order; the same array when all have room; all when none has", () => {
    const f = fleet();
    const pods = [a, b, c];
    for (const p of pods) f.record(p.key, { requestsWaiting: 0, kvCacheUsage: 0.1 });
    expect(podsWithRoom(pods, f.signals, THRESHOLDS)).toBe(pods);
    f.record(a.key, { requestsWaiting: 9, kvCacheUsage: 0.1 });
    expect(podsWithRoom(pods, f.signals, THRESHOLDS)).toEqual([b, c]);
    f.record(c.key, { requestsWaiting: 0, kvCacheUsage: 0.95 });
    expect(podsWithRoom(pods, f.signals, THRESHOLDS)).toEqual([b]);
    f.record(b.key, { requestsWaiting: 6, kvCacheUsage: 0.1 });
    expect(podsWithRoom(pods, f.signals, THRESHOLDS)).toBe(pods);
  });

  it("a pod without fresh metrics has room by kvroute's own in-flight work (unknown-room), not more", () => {
    const f = fleet();
    f.record(a.key, { requestsWaiting: 9 });
    // b: never scraped, nothing in flight: unknown-room.
    expect(podsWithRoom([a, b], f.signals, THRESHOLDS)).toEqual([b]);
    // b: in-flight tokens over 0.8 of the default capacity: unknown-full; no pod has room.
    f.load.reserve(b.key, DEFAULT_POD_CAPACITY_TOKENS);
    expect(podsWithRoom([a, b], f.signals, THRESHOLDS)).toEqual([a, b]);
  });
});
