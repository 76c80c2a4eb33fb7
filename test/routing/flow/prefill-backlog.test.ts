/**
 * The prefill-delay signal in memory, on an injected clock: the throughput is learned only from scrapes showing a
 * queue (an idle pod's rate is its load, not its capacity), the queued delay is the held uncached tokens over it and
 * drains as the pod prefills, each hold counts at once (a dispatch burst sees its own backlog), a release, a move or
 * a first token gives it back, and a pod is saturated above `maxPrefillDelayMs` only once its throughput is known; a
 * pick holds its share through the director at the calibrated estimate, and its first token wakes the flow queue.
 */
import { createEngineMetricsStore } from "../../../src/cluster/metrics/engine-metrics-store";
import { createLoadTracker } from "../../../src/cluster/load-tracker";
import type { EngineMetrics } from "../../../src/cluster/engine-metrics";
import { PREFILL_WINDOW_MS } from "../../../src/cluster/prefill-throughput";
import { createPrefillBacklog } from "../../../src/routing/flow/prefill-backlog";
import { podVerdict } from "../../../src/routing/flow/saturation";
import type { SaturationSignals, SaturationThresholds } from "../../../src/routing/flow/saturation";
import { createFlowController } from "../../../src/routing/flow/flow-controller";
import { createPromptTokenCalibration } from "../../../src/routing/prompt-token-calibration";
import { fleetDirector, routeInput } from "../../support/director-fixture";
import { makeFleet, makeRequest, MODEL } from "../pods";

const THRESHOLDS: SaturationThresholds = {
  queueDepth: 5,
  kvCacheUsage: 0.8,
  podCapacityTokens: undefined,
  maxPrefillDelayMs: 250,
};
const metrics = (m: Partial<EngineMetrics>): EngineMetrics => ({ scrapedAtMs: 0, byModel: new Map(), ...m });

function clock() {
  let now = 1000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

/** Two scrapes a window apart at 10,000 prompt tokens/s, with `waiting` requests queued at the engine. */
function learn(b: ReturnType<typeof createPrefillBacklog>, key: string, waiting: number): void {
  b.observe(key, metrics({ scrapedAtMs: 0, promptTokensTotal: 0, requestsWaiting: waiting }));
  b.observe(
    key,
    metrics({
      scrapedAtMs: PREFILL_WINDOW_MS,
      promptTokensTotal: 10 * PREFILL_WINDOW_MS,
      requestsWaiting: waiting,
    }),
  );
}

describe("prefill backlog", () => {
  it("learns the throughput only from scrapes that show a queue", () => {
    const c = clock();
    const b = createPrefillBacklog(c.now);
    learn(b, "a", 0);
    expect(b.throughput("a")).toBeUndefined();
    b.hold("a", 5000);
    expect(b.delayMs("a", undefined)).toBeUndefined();
    learn(b, "b", 2);
    expect(b.throughput("b")).toBe(10_000);
  });

  it("is the held tokens over the throughput, draining as the pod prefills, given back on release or move", () => {
    const c = clock();
    const b = createPrefillBacklog(c.now);
    learn(b, "a", 1);
    const first = b.hold("a", 1500);
    const second = b.hold("a", 1500);
    expect(b.delayMs("a", undefined)).toBe(300);
    c.advance(100);
    expect(b.delayMs("a", undefined)).toBe(200);
    // The engine says both still wait: they count in full whatever the drain model says.
    expect(b.delayMs("a", 2)).toBe(300);
    first.release();
    first.release();
    expect(b.delayMs("a", undefined)).toBe(150);
    second.moveTo("b");
    expect(b.delayMs("a", undefined)).toBe(0);
  });

  it("a first token gives the share back at once, with the shares queued before it", () => {
    const c = clock();
    const b = createPrefillBacklog(c.now);
    learn(b, "a", 1);
    b.hold("a", 1500);
    const second = b.hold("a", 1500);
    const third = b.hold("a", 1000);
    expect(b.delayMs("a", undefined)).toBe(400);
    // The second request's first token: the pod has prefilled it and the first; the third drains from now.
    second.prefilled();
    expect(b.delayMs("a", undefined)).toBe(100);
    c.advance(50);
    expect(b.delayMs("a", undefined)).toBe(50);
    third.prefilled();
    third.release();
    expect(b.delayMs("a", undefined)).toBe(0);
  });

  it("saturates a pod above the delay once its throughput is known, counting each hold at once", () => {
    const c = clock();
    const store = createEngineMetricsStore({ staleAfterMs: 1000, now: () => 10_000 });
    const load = createLoadTracker();
    const b = createPrefillBacklog(c.now);
    const signals: SaturationSignals = {
      fresh: (k) => store.fresh(k),
      lastKnown: (k) => store.lastGood(k),
      load: (k) => load.get(k),
      prefillDelayMs: (k, waiting) => b.delayMs(k, waiting),
    };
    store.record("a", metrics({ scrapedAtMs: 10_000, requestsWaiting: 0 }));
    const held: (() => void)[] = [];
    const dispatch = () => {
      const releaseLoad = load.reserve("a", 1000);
      const share = b.hold("a", 1000);
      held.push(() => {
        releaseLoad();
        share.release();
      });
    };
    // Throughput unknown: the signal is off, however much is held.
    for (let i = 0; i < 10; i++) dispatch();
    expect(podVerdict("a", signals, THRESHOLDS)).toBe("room");
    learn(b, "a", 1);
    expect(podVerdict("a", signals, THRESHOLDS)).toBe("full");
    expect(podVerdict("a", signals, { ...THRESHOLDS, maxPrefillDelayMs: 0 })).toBe("room");
    // Shares held before the throughput was known count in full until their requests end.
    c.advance(1000);
    expect(podVerdict("a", signals, THRESHOLDS)).toBe("full");
    for (const release of held.splice(0)) release();
    // A burst of dispatches (1,000 tokens = 100 ms each) stops past 250 ms of queued prefill, between scrapes.
    let sent = 0;
    while (podVerdict("a", signals, THRESHOLDS) === "room") {
      dispatch();
      sent++;
    }
    expect(sent).toBe(3);
    // The pod prefills: room again.
    c.advance(100);
    expect(podVerdict("a", signals, THRESHOLDS)).toBe("room");
  });
});

/** Flow control over `fleet` with the prefill-delay signal of `backlog`, re-checking only once a minute. */
function flowOver(fleet: ReturnType<typeof makeFleet>, backlog: ReturnType<typeof createPrefillBacklog>) {
  return createFlowController({
    queue: {
      limits: { maxQueued: 2, maxQueuedPerBand: 2, ttlMs: 60_000 },
      fairness: "round-robin",
      order: "fcfs",
      fairnessWindowMs: 60_000,
      maxFlows: 10,
    },
    thresholds: THRESHOLDS,
    signals: {
      fresh: () => undefined,
      lastKnown: () => undefined,
      load: (k) => fleet.load.get(k),
      prefillDelayMs: (k, waiting) => backlog.delayMs(k, waiting),
    },
    prefillBacklog: backlog,
    pods: () => fleet.pods,
    recheckMs: 60_000,
  });
}

describe("a pick's prefill share", () => {
  it("is held in the pick's step at the calibrated estimate, and given back by its release or first token", () => {
    const fleet = makeFleet(1);
    const c = clock();
    const backlog = createPrefillBacklog(c.now);
    learn(backlog, fleet.pods[0]?.key ?? "", 1);
    const flowControl = flowOver(fleet, backlog);
    const calibration = createPromptTokenCalibration();
    calibration.observe(MODEL, 100, 200);
    const director = fleetDirector(fleet, { flowControl, promptCalibration: calibration });
    const pick = director.route(routeInput({ requestId: "r", request: makeRequest(MODEL, 500) }));
    if (pick.t === "none") throw new Error("expected a pick");
    // 1,000 calibrated tokens at 10,000 tokens/s.
    expect(backlog.delayMs(pick.pod.key, undefined)).toBe(100);
    pick.release({ kind: "success" });
    expect(backlog.delayMs(pick.pod.key, undefined)).toBe(0);
    // A second pick's first token gives its share back while the request still holds its slot.
    const next = director.route(routeInput({ requestId: "r2", request: makeRequest(MODEL, 500) }));
    if (next.t === "none") throw new Error("expected a pick");
    expect(backlog.delayMs(next.pod.key, undefined)).toBe(100);
    next.firstToken?.();
    expect(backlog.delayMs(next.pod.key, undefined)).toBe(0);
    expect(fleet.load.get(next.pod.key).requests).toBe(1);
    next.release({ kind: "success" });
  });
});

describe("a first token at flow control", () => {
  it("dispatches the requests waiting on the pod's prefill delay at once, not at the next re-check", async () => {
    const fleet = makeFleet(1);
    const c = clock();
    const backlog = createPrefillBacklog(c.now);
    const key = fleet.pods[0]?.key ?? "";
    learn(backlog, key, 1);
    // Its re-check is far beyond the test: only a wake-up can dispatch the waiting request.
    const flowControl = flowOver(fleet, backlog);
    const director = fleetDirector(fleet, { flowControl });
    // 5,000 tokens at 10,000 tokens/s: 500 ms of queued prefill, over the 250 ms limit.
    const first = director.routeWithPrompt(routeInput({ requestId: "a", request: makeRequest(MODEL, 5000) }));
    if (first instanceof Promise || first.t === "none") throw new Error("expected a pick on the fast path");
    const second = director.routeWithPrompt(routeInput({ requestId: "b", request: makeRequest(MODEL, 100) }));
    expect(second).toBeInstanceOf(Promise);
    expect(flowControl.queued(MODEL)).toBe(1);
    // The first request's first token: nothing is left to prefill, so the waiting request goes now.
    first.firstToken?.();
    expect(flowControl.queued(MODEL)).toBe(0);
    const dispatched = await second;
    expect(dispatched.t).toBe("routed");
    if (dispatched.t !== "none") dispatched.release({ kind: "success" });
    first.release({ kind: "success" });
    flowControl.close();
  });
});
