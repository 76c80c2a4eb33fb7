/**
 * Room reserved for the top band, in memory. The detector: a band below the model's top is held (`reserved`) at a
 * stricter cut of the configured running seats (a learned figure is never cut) and of the prefill-delay budget,
 * while the top band keeps the full one; an idle pod has room for every band; no reserve, or a signal that is off,
 * judges every band alike. The controller: a top-band arrival is dispatched at once into the room lower bands left,
 * ahead of them; one band alone is never held by the reserve; and, as a property over seeded random runs of
 * arrivals and releases, lower bands never fill the reserved room, strict priority holds at every dispatch, nothing
 * waits while there is room for it, and nothing is lost.
 */
import { createLoadTracker } from "../../../src/cluster/load-tracker";
import { createFlowController } from "../../../src/routing/flow/flow-controller";
import { modelSaturation, podVerdict, SEATS_MARGIN } from "../../../src/routing/flow/saturation";
import type {
  TopBandReserve,
  PodVerdict,
  SaturationResult,
  SaturationSignals,
  SaturationThresholds,
} from "../../../src/routing/flow/saturation";
import { MODEL, makePod, seededRandom } from "../pods";

const pod = makePod(1);
const BASE: SaturationThresholds = {
  queueDepth: 5,
  kvCacheUsage: 0.8,
  podCapacityTokens: 1_000_000,
  maxPrefillDelayMs: 100,
};

/** One pod with `requests` in flight, `seats` running seats and `delayMs` of queued prefill (undefined: unknown). */
function signalsOf(
  requests: number,
  seats: number | undefined,
  delayMs: number | undefined,
): SaturationSignals {
  return {
    fresh: () => undefined,
    lastKnown: () => undefined,
    load: () => ({ requests, tokens: requests }),
    runningSeats: () => seats,
    prefillDelayMs: () => delayMs,
  };
}

describe("the top band's reserve in the saturation detector", () => {
  const reserve: TopBandReserve = { seats: 2, prefillShare: 0.5 };
  const t: SaturationThresholds = { ...BASE, reserve };
  /** Verdicts for both bands; `configured`: the seats are `--flow-pod-max-running`'s, else learned. */
  const verdicts = (
    requests: number,
    seats: number | undefined,
    delay: number | undefined,
    configured = false,
  ) => {
    const th = configured ? { ...t, podMaxRunning: seats } : t;
    const signals = signalsOf(requests, configured ? undefined : seats, delay);
    return { top: podVerdict(pod.key, signals, th), lower: podVerdict(pod.key, signals, th, true) };
  };

  it("holds a lower band at configured seats + 1 - reserved seats; the top band keeps seats + 1", () => {
    // 8 seats: the top band may have 9 in flight, a lower band 7.
    expect(verdicts(6, 8, 0, true)).toEqual({ top: "unknown-room", lower: "unknown-room" });
    expect(verdicts(7, 8, 0, true)).toEqual({ top: "unknown-room", lower: "reserved" });
    expect(verdicts(8, 8, 0, true)).toEqual({ top: "unknown-room", lower: "reserved" });
    expect(verdicts(8 + SEATS_MARGIN, 8, 0, true)).toEqual({ top: "unknown-full", lower: "unknown-full" });
  });

  it("reserves no seats below a learned figure, which only grows while the pod is filled past it", () => {
    expect(verdicts(8, 8, 0)).toEqual({ top: "unknown-room", lower: "unknown-room" });
    expect(verdicts(8 + SEATS_MARGIN, 8, 0)).toEqual({ top: "unknown-full", lower: "unknown-full" });
  });

  it("holds a lower band above (1 - share) of the prefill-delay budget; the top band keeps all of it", () => {
    expect(verdicts(1, 8, 50)).toEqual({ top: "unknown-room", lower: "unknown-room" });
    expect(verdicts(1, 8, 51)).toEqual({ top: "unknown-room", lower: "reserved" });
    expect(verdicts(1, 8, 100)).toEqual({ top: "unknown-room", lower: "reserved" });
    expect(verdicts(1, 8, 101)).toEqual({ top: "unknown-full", lower: "unknown-full" });
  });

  it("an idle pod has room for every band; an unknown signal reserves nothing", () => {
    const all: SaturationThresholds = { ...BASE, podMaxRunning: 1, reserve: { seats: 5, prefillShare: 1 } };
    expect(podVerdict(pod.key, signalsOf(0, undefined, 500), all, true)).toBe("unknown-room");
    // Seats unknown, throughput unknown: neither cut applies, to any band.
    expect(verdicts(30, undefined, undefined)).toEqual({ top: "unknown-room", lower: "unknown-room" });
  });

  it("a model is reserved when no pod has room for the band and one has room for the top band", () => {
    const [a, b] = [makePod(1), makePod(2)];
    const load = new Map([
      [a.key, 9],
      [b.key, 7],
    ]);
    const signals: SaturationSignals = {
      ...signalsOf(0, undefined, 0),
      load: (k) => ({ requests: load.get(k) ?? 0, tokens: 1 }),
    };
    const th: SaturationThresholds = { ...t, podMaxRunning: 8 };
    expect(modelSaturation([a, b], signals, th)).toBe<SaturationResult>("unknown-free");
    expect(modelSaturation([a, b], signals, th, true)).toBe<SaturationResult>("reserved");
    load.set(b.key, 9);
    expect(modelSaturation([a, b], signals, th, true)).toBe<SaturationResult>("unknown-saturated");
  });

  it("property: the top band is judged as without a reserve; a lower band never has room the top band lacks", () => {
    const rand = seededRandom(16);
    const int = (n: number): number => Math.floor(rand() * n);
    for (let i = 0; i < 2000; i++) {
      const seats = rand() < 0.2 ? undefined : 1 + int(40);
      const configured = seats !== undefined && rand() < 0.5;
      const requests = int(45);
      const delay = rand() < 0.2 ? undefined : rand() * 200;
      const h: TopBandReserve = { seats: int(6), prefillShare: rand() < 0.3 ? 0 : rand() };
      const signals = signalsOf(requests, configured ? undefined : seats, delay);
      const base: SaturationThresholds = { ...BASE, podMaxRunning: configured ? seats : undefined };
      const with_: SaturationThresholds = { ...base, reserve: h };
      const without = podVerdict(pod.key, signals, base);
      const top = podVerdict(pod.key, signals, with_);
      const lower = podVerdict(pod.key, signals, with_, true);
      const ctx = (): string => JSON.stringify({ seats, configured, requests, delay, h });
      const roomy = (v: PodVerdict): boolean => v === "unknown-room";
      const none = podVerdict(pod.key, signals, { ...base, reserve: { seats: 0, prefillShare: 0 } }, true);
      // The checks in plain code, jest's matcher (for its message) only on a violation: expect() builds an Error
      // per call, and over thousands of cases that was most of this file's CPU.
      if (top !== without) expect([ctx(), top]).toEqual([ctx(), without]);
      if (roomy(lower) && !roomy(top)) expect([ctx(), roomy(top)]).toEqual([ctx(), true]);
      if (!roomy(top) && lower !== top) expect([ctx(), lower]).toEqual([ctx(), top]);
      if (requests === 0 && lower !== top) expect([ctx(), lower]).toEqual([ctx(), top]);
      if (none !== without) expect([ctx(), none]).toEqual([ctx(), without]);
    }
  });
});

/** A controller over one pod with `seats` running seats (never scraped) and `reservedSeats` kept for the top band. */
function controller(seats: number, reservedSeats: number) {
  let now = 0;
  const load = createLoadTracker();
  const results: SaturationResult[] = [];
  const flow = createFlowController({
    queue: {
      limits: { maxQueued: 10_000, maxQueuedPerBand: 10_000, ttlMs: 1e9 },
      fairness: "round-robin",
      order: "fcfs",
      fairnessWindowMs: 60_000,
      maxFlows: 10,
    },
    thresholds: { ...BASE, podMaxRunning: seats, reserve: { seats: reservedSeats, prefillShare: 0.5 } },
    signals: { fresh: () => undefined, lastKnown: () => undefined, load: (k) => load.get(k) },
    pods: () => [pod],
    topBandWindowMs: 1000,
    recheckMs: 1e9,
    observer: { onSaturationCheck: (_m, r) => void results.push(r) },
    nowMs: () => now,
  });
  const inFlight = (): number => load.get(pod.key).requests;
  /**
   * Admit a request of `priority`; its decision reserves one request on the pod and records it. A request still
   * queued at the test's `close` is refused there; that refusal is expected and handled.
   */
  const admit = (
    id: string,
    priority: number,
    dispatched: string[],
    releases: Map<string, () => boolean>,
  ) => {
    const r = flow.admit(
      {
        requestId: id,
        model: MODEL,
        headers: { get: (n) => (n === "x-kvroute-priority" ? String(priority) : undefined) },
        promptTokens: 1,
        maxTokens: 1,
      },
      [pod],
      () => {
        dispatched.push(id);
        releases.set(id, load.reserve(pod.key, 1));
        return id;
      },
    );
    if (r instanceof Promise) r.catch(() => undefined);
    return r;
  };
  return { flow, load, results, inFlight, admit, advance: (ms: number) => (now += ms) };
}

describe("the top band's reserve in the flow controller", () => {
  it("a top-band arrival is dispatched at once into the reserved room, ahead of the lower band that waits", async () => {
    const c = controller(2, 1);
    const dispatched: string[] = [];
    const releases = new Map<string, () => boolean>();
    // The top band is 1 once a request of it has been seen.
    c.admit("hi0", 1, dispatched, releases);
    releases.get("hi0")!();
    for (const id of ["lo1", "lo2"]) c.admit(id, 0, dispatched, releases);
    const lo3 = c.admit("lo3", 0, dispatched, releases);
    // Seats 2 + 1 = 3 for the top band, 2 for the lower one.
    expect(dispatched).toEqual(["hi0", "lo1", "lo2"]);
    expect(c.results.at(-1)).toBe("reserved");
    const hi = c.admit("hi1", 1, dispatched, releases);
    expect(dispatched.at(-1)).toBe("hi1");
    await expect(hi).resolves.toBe("hi1");
    expect(c.flow.queued(MODEL)).toBe(1);
    // A lower request's release leaves the pod at the lower cut (hi1 holds a seat): lo3 still waits.
    releases.get("lo1")!();
    c.flow.wake(MODEL);
    expect(c.flow.queued(MODEL)).toBe(1);
    releases.get("hi1")!();
    c.flow.wake(MODEL);
    await expect(lo3).resolves.toBe("lo3");
    c.flow.close();
  });

  it("one band alone fills the pod as without a reserve", () => {
    const c = controller(2, 1);
    const dispatched: string[] = [];
    for (const id of ["a", "b", "c", "d"]) void c.admit(id, 0, dispatched, new Map());
    expect(dispatched).toEqual(["a", "b", "c"]);
    expect(c.results).not.toContain("reserved");
    c.flow.close();
  });

  it("a lower band gets the reserved room back once the top band has been quiet for the window", () => {
    const c = controller(2, 1);
    const dispatched: string[] = [];
    const releases = new Map<string, () => boolean>();
    void c.admit("hi", 1, dispatched, releases);
    releases.get("hi")!();
    for (const id of ["a", "b", "c"]) void c.admit(id, 0, dispatched, releases);
    expect(dispatched).toEqual(["hi", "a", "b"]);
    c.advance(1001);
    c.flow.wake(MODEL);
    expect(dispatched).toEqual(["hi", "a", "b", "c"]);
    c.flow.close();
  });

  it("property: lower bands never fill the reserved room, strict priority, no idle room, nothing lost", () => {
    for (let seed = 1; seed <= 25; seed++) {
      const rand = seededRandom(seed);
      const int = (n: number): number => Math.floor(rand() * n);
      const seats = 1 + int(4);
      const reservedSeats = int(seats + 2);
      const c = controller(seats, reservedSeats);
      const dispatched: string[] = [];
      const releases = new Map<string, () => boolean>();
      const priorityOf = new Map<string, number>();
      const queued = new Set<string>();
      let top = Number.NEGATIVE_INFINITY;
      let arrivals = 0;
      const ctx = (step: number): string => `seed ${seed} step ${step}`;
      // The checks in plain code, jest's matcher (for its message) only on a violation: expect() builds an Error
      // per call, and at ~6 per step over 7500 steps that was most of this file's CPU.
      const check = (step: number, ok: boolean): void => {
        if (!ok) expect([ctx(step), ok]).toEqual([ctx(step), true]);
      };
      for (let step = 0; step < 300; step++) {
        if (rand() < 0.55 || releases.size === 0) {
          const id = `r${arrivals++}`;
          const priority = int(3) - 1;
          priorityOf.set(id, priority);
          top = Math.max(top, priority);
          const before = dispatched.length;
          const inFlightBefore = c.inFlight();
          queued.add(id);
          void c.admit(id, priority, dispatched, releases);
          for (const d of dispatched.slice(before)) queued.delete(d);
          // What this arrival let through: only itself or nothing (earlier waiters had no room).
          const others = dispatched.slice(before).filter((d) => d !== id);
          if (others.length > 0) expect([ctx(step), others]).toEqual([ctx(step), []]);
          if (dispatched.at(-1) === id && priority < top && inFlightBefore > 0)
            check(step, inFlightBefore < seats + SEATS_MARGIN - reservedSeats);
        } else {
          const ids = [...releases.keys()];
          const id = ids[int(ids.length)]!;
          releases.get(id)!();
          releases.delete(id);
          const before = dispatched.length;
          c.flow.wake(MODEL);
          // Each dispatch of the pass: nothing higher left waiting, and room for its band when it went.
          for (const d of dispatched.slice(before)) {
            queued.delete(d);
            const p = priorityOf.get(d)!;
            check(
              step,
              [...queued].every((q) => priorityOf.get(q)! <= p),
            );
          }
        }
        const inFlight = c.inFlight();
        check(step, inFlight <= seats + SEATS_MARGIN);
        // Nobody waits while there is room for the head of the queue's band.
        const head = Math.max(...[...queued].map((q) => priorityOf.get(q)!));
        if (queued.size > 0) {
          const cut = head >= top ? seats + SEATS_MARGIN : Math.max(1, seats + SEATS_MARGIN - reservedSeats);
          check(step, inFlight >= cut);
        }
        const queuedNow = c.flow.queued(MODEL);
        if (queuedNow !== queued.size) expect([ctx(step), queuedNow]).toEqual([ctx(step), queued.size]);
        const accounted = dispatched.length + queued.size;
        if (accounted !== arrivals) expect([ctx(step), accounted]).toEqual([ctx(step), arrivals]);
      }
      c.flow.close();
    }
  });
});
