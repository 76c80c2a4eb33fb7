import type { Pod } from "../../../src/cluster/pod";
import type { Pick, RoutingContext, SloDeps, StrategyFactory } from "../../../src/routing/framework";
import { createDirector } from "../../../src/routing/director";
import { createHeadroomQueue } from "../../../src/routing/headroom-queue";
import { createStrategyRegistry } from "../../../src/routing/registry";
import { registerBuiltins } from "../../../src/routing/strategies";
import {
  SLO,
  SLO_LEAST_LOAD,
  SLO_PACK_LOAD,
  slo,
  sloLeastLoad,
  sloLeastLoadPulling,
  sloPackLoad,
  type SloParams,
} from "../../../src/routing/strategies/slo";
import type { GpuProfile } from "../../../src/cluster/gpu-profiles";
import { PendingLoadAccumulator } from "../../../src/cluster/pending-load";
import { headersOf, makeContext, makeFleet, makeRequest, MODEL, seededRandom, type Fleet } from "../pods";
import { runStrategyContract } from "../strategy-contract";

/**
 * A profile where one request of up to `maxOut` output tokens consumes `1 / perPod` of a pod (throughput × latency
 * = `perPod` requests), and longer outputs consume the whole pod.
 */
function profile(perPod: number, maxOut = 1): GpuProfile {
  return {
    deployment: "d",
    cost: 1,
    created: 1,
    // indexes are stored as log2: output tokens [maxOut, 1024 × maxOut], input tokens [1].
    indexes: [[Math.log2(maxOut), Math.log2(maxOut) + 10], [0]],
    tputs: [[perPod], [1]],
    e2e: [[1], [1]],
  };
}

interface SloFixture {
  readonly deps: SloDeps;
  readonly predictions: [string, number][];
}

/** SLO deps over a fresh accumulator; `profiles[i]` is the profile of `pod-<i>` (undefined: none). */
function sloDeps(profileOf: (pod: Pod) => GpuProfile | undefined, predicted = 1): SloFixture {
  const predictions: [string, number][] = [];
  return {
    predictions,
    deps: {
      profileFor: (_model, pod) => profileOf(pod),
      pending: new PendingLoadAccumulator(),
      predictOutput: (model, promptTokens) => {
        predictions.push([model, promptTokens]);
        return predicted;
      },
    },
  };
}

const indexOf = (pod: Pod): number => Number(pod.name.slice("pod-".length));
const FACTORIES: readonly StrategyFactory<SloParams>[] = [
  slo,
  sloLeastLoadPulling,
  sloPackLoad,
  sloLeastLoad,
];

for (const factory of FACTORIES) {
  runStrategyContract({
    name: factory.type,
    factory,
    // Roomy profiles (1000 requests per pod) so the contract's hundreds of unreleased picks never run out of room.
    deps: () => ({ now: () => 0, slo: sloDeps(() => profile(1000)).deps }),
  });
  runStrategyContract({
    name: `${factory.type} with some pods profiled`,
    factory,
    deps: () => ({
      now: () => 0,
      slo: sloDeps((p) => (indexOf(p) % 2 === 0 ? profile(1000) : undefined)).deps,
    }),
  });
  runStrategyContract({ name: `${factory.type} without GPU profiles`, factory });
}

/** Score `factory` over `utils.length` pods preloaded with those utilizations, each request consuming `c`. */
function scoreWith(factory: StrategyFactory<SloParams>, utils: readonly number[], perPod: number) {
  const fleet = makeFleet(utils.length);
  const { deps } = sloDeps(() => profile(perPod));
  utils.forEach((u, i) => deps.pending.reserve((fleet.pods[i] as Pod).key, "pre", u));
  const strategy = factory.create({}, { now: () => 0, slo: deps });
  const result = strategy.score(makeContext(fleet.load), fleet.pods);
  return result.t === "scores" ? Array.from(result.scores, (x) => Math.round(x * 1e4) / 1e4) : result;
}

describe("SLO strategies: scores", () => {
  it.each<[string, StrategyFactory<SloParams>, number[], number, unknown]>([
    // consumption 0.2: pod 2 (0.9 + 0.2 > 1) is not eligible under the cap.
    ["slo spreads", slo, [0.5, 0.2, 0.9], 5, [0, 1, 0]],
    ["slo-least-load-pulling = slo", sloLeastLoadPulling, [0.5, 0.2, 0.9], 5, [0, 1, 0]],
    ["slo-pack-load packs", sloPackLoad, [0.5, 0.2, 0.9], 5, [1, 0, 0]],
    ["slo-least-load has no cap", sloLeastLoad, [0.5, 0.2, 0.9], 5, [0.5714, 1, 0]],
    ["all equal → 1", slo, [0.1, 0.1], 5, [1, 1]],
    ["exactly at the cap fits", slo, [0.8, 0.9], 5, [1, 0]],
    ["nothing fits → wait", slo, [0.9, 0.95], 5, { t: "wait", reason: "no-headroom" }],
    ["pack: nothing fits → wait", sloPackLoad, [1, 1], 1, { t: "wait", reason: "no-headroom" }],
    ["least-load never waits", sloLeastLoad, [3, 2], 1, [0, 1]],
  ])("%s: utils %j", (_label, factory, utils, perPod, expected) => {
    expect(scoreWith(factory, utils, perPod)).toEqual(expected);
  });

  it("abstains without profiles, and with profiles that yield no consumption", () => {
    const fleet = makeFleet(2);
    const none = slo.create({}, { now: () => 0, slo: sloDeps(() => undefined).deps });
    expect(none.score(makeContext(fleet.load), fleet.pods)).toEqual({
      t: "abstain",
      reason: "no-gpu-profile",
    });
    const zero = slo.create(
      {},
      { now: () => 0, slo: sloDeps(() => ({ ...profile(1), tputs: [[0], [0]] })).deps },
    );
    expect(zero.score(makeContext(fleet.load), fleet.pods)).toEqual({
      t: "abstain",
      reason: "gpu-profile-unusable",
    });
    expect(slo.create({}, { now: () => 0 }).score(makeContext(fleet.load), fleet.pods)).toEqual({
      t: "abstain",
      reason: "no-gpu-profile",
    });
  });

  it("filters out pods without a profile and pods without room, keeping all when none fits", () => {
    const fleet = makeFleet(4);
    const { deps } = sloDeps((p) => (indexOf(p) === 3 ? undefined : profile(2)));
    deps.pending.reserve((fleet.pods[0] as Pod).key, "x", 0.8);
    const s = slo.create({}, { now: () => 0, slo: deps });
    const ctx = makeContext(fleet.load);
    expect(s.filter?.(ctx, fleet.pods)).toEqual([fleet.pods[1], fleet.pods[2]]);
    deps.pending.reserve((fleet.pods[1] as Pod).key, "x", 0.8);
    deps.pending.reserve((fleet.pods[2] as Pod).key, "x", 0.8);
    expect(s.filter?.(ctx, fleet.pods)).toBe(fleet.pods);
    expect(s.score(ctx, fleet.pods)).toEqual({ t: "wait", reason: "no-headroom" });
  });

  it("predicts once per request, caps the prediction by max tokens, and reserves what it judged", () => {
    const fleet = makeFleet(1);
    const pod = fleet.pods[0] as Pod;
    // 1024 predicted output tokens would consume the whole pod; max_tokens 4 keeps the request at 1/1000.
    const fx = sloDeps(() => profile(1000), 1024);
    const s = slo.create({}, { now: () => 0, slo: fx.deps });
    const ctx: RoutingContext = makeContext(fleet.load, { request: { maxTokens: 4 } });
    s.filter?.(ctx, fleet.pods);
    s.score(ctx, fleet.pods);
    const finish = s.onRouted?.(ctx, pod);
    expect(fx.predictions).toEqual([[MODEL, 10]]);
    expect(fx.deps.pending.utilization(pod.key)).toBeCloseTo(0.001, 9);
    finish?.({ kind: "success" });
    expect(fx.deps.pending.utilization(pod.key)).toBe(0);
    expect(fx.deps.pending.size()).toBe(0);
  });

  it("reserves apart two requests with the same request id", () => {
    const fleet = makeFleet(1);
    const pod = fleet.pods[0] as Pod;
    const { deps } = sloDeps(() => profile(4));
    const s = slo.create({}, { now: () => 0, slo: deps });
    const f1 = s.onRouted?.(makeContext(fleet.load), pod);
    const f2 = s.onRouted?.(makeContext(fleet.load), pod);
    expect(deps.pending.utilization(pod.key)).toBeCloseTo(0.5, 9);
    f1?.({ kind: "success" });
    f2?.({ kind: "cancelled" });
    expect(deps.pending.utilization(pod.key)).toBe(0);
  });

  it("moves the reservation to the pod that served, at that pod's profile; the finisher releases it there", () => {
    const fleet = makeFleet(3);
    const [p0, p1, p2] = fleet.pods as [Pod, Pod, Pod];
    // p1 is twice as large as p0; p2 has no profile (nothing can be reserved there).
    const { deps } = sloDeps((p) =>
      indexOf(p) === 0 ? profile(4) : indexOf(p) === 1 ? profile(8) : undefined,
    );
    const s = slo.create({}, { now: () => 0, slo: deps });
    const finish = s.onRouted?.(makeContext(fleet.load), p0);
    expect(deps.pending.utilization(p0.key)).toBeCloseTo(0.25, 9);
    finish?.moveTo?.(p1);
    expect(deps.pending.utilization(p0.key)).toBe(0);
    expect(deps.pending.utilization(p1.key)).toBeCloseTo(0.125, 9);
    finish?.moveTo?.(p2);
    expect(deps.pending.utilization(p1.key)).toBe(0);
    expect(deps.pending.size()).toBe(0);
    finish?.({ kind: "success" });
    expect(deps.pending.size()).toBe(0);
  });
});

describe("SLO strategies through the director and the headroom queue", () => {
  function setup(perPod: number, podCount = 2, queueOptions = {}) {
    const fleet: Fleet = makeFleet(podCount);
    const { deps } = sloDeps(() => profile(perPod));
    const registry = createStrategyRegistry({ deps: { now: () => 0, slo: deps } });
    registerBuiltins(registry);
    const queue = createHeadroomQueue({ maxWaitMs: 60_000, ...queueOptions });
    const director = createDirector({
      registry,
      cluster: () => fleet.store.snapshot(),
      load: fleet.load,
      defaultStrategy: SLO,
      random: seededRandom(3),
      headroomQueue: queue,
    });
    let n = 0;
    const input = (strategyHeader?: string, signal?: AbortSignal) => ({
      requestId: `r${n++}`,
      request: makeRequest(),
      headers: headersOf(),
      strategyHeader,
      ...(signal ? { signal } : {}),
    });
    return { fleet, deps, queue, director, input };
  }

  const podOf = (p: Pick): string => (p.t === "none" ? "none" : p.pod.key);

  it("holds one request per pod, parks the next, and routes it to the pod a release frees", async () => {
    const { director, queue, input, deps, fleet } = setup(1);
    const a = director.routeWithPrompt(input()) as Pick;
    const b = director.routeWithPrompt(input()) as Pick;
    expect(new Set([podOf(a), podOf(b)]).size).toBe(2);
    // The synchronous path never waits.
    expect(director.route(input())).toMatchObject({ t: "none" });
    const c = director.routeWithPrompt(input());
    expect(c).toBeInstanceOf(Promise);
    expect(queue.length(MODEL)).toBe(1);
    if (b.t === "none") throw new Error("expected a pick");
    b.release({ kind: "success" });
    const routed = await c;
    expect(podOf(routed)).toBe(b.pod.key);
    expect(queue.length(MODEL)).toBe(0);
    for (const p of [a, routed]) if (p.t !== "none") p.release({ kind: "success" });
    expect(deps.pending.size()).toBe(0);
    expect(fleet.load.totalRequests()).toBe(0);
  });

  it("keeps newcomers behind earlier waiters (FIFO) and never waits with slo-least-load", async () => {
    const { director, queue, input } = setup(1, 1);
    const a = director.routeWithPrompt(input()) as Pick;
    const order: string[] = [];
    const w1 = Promise.resolve(director.routeWithPrompt(input())).then((p) => (order.push("w1"), p));
    const w2 = Promise.resolve(director.routeWithPrompt(input())).then((p) => (order.push("w2"), p));
    expect(queue.length(MODEL)).toBe(2);
    // slo-least-load has no cap: it routes at once, beyond the cap, and is not held behind the waiters.
    const free = director.routeWithPrompt(input(SLO_LEAST_LOAD)) as Pick;
    expect(free.t).toBe("routed");
    if (a.t === "none" || free.t === "none") throw new Error("expected picks");
    free.release({ kind: "success" }); // frees nothing the cap counts: the pod is still full with `a`
    expect(queue.length(MODEL)).toBe(2);
    a.release({ kind: "success" });
    const p1 = await w1;
    expect(queue.length(MODEL)).toBe(1);
    if (p1.t === "none") throw new Error("expected a pick");
    p1.release({ kind: "success" });
    const p2 = await w2;
    expect(order).toEqual(["w1", "w2"]);
    if (p2.t !== "none") p2.release({ kind: "success" });
  });

  it("a combined plan keeps the cap, and pack-load fills one pod before the next", async () => {
    const { director, input, queue } = setup(2, 2);
    const packed = [0, 1].map(() => director.routeWithPrompt(input(SLO_PACK_LOAD)) as Pick);
    expect(podOf(packed[0] as Pick)).toBe(podOf(packed[1] as Pick));
    const combined = [0, 1].map(() => director.routeWithPrompt(input(`${SLO}:2,least-request`)) as Pick);
    expect(combined.map(podOf)).not.toContain(podOf(packed[0] as Pick));
    const abort = new AbortController();
    const parked = director.routeWithPrompt(input(`${SLO}:2,least-request`, abort.signal));
    expect(parked).toBeInstanceOf(Promise);
    // Leave no waiter behind: its 60 s timer would outlive this file in the jest worker.
    abort.abort();
    await expect(parked).rejects.toThrow(/cancelled/);
    expect(queue.length(MODEL)).toBe(0);
  });

  it("a cancelled waiter leaves the queue and reserves nothing", async () => {
    const { director, queue, input, deps } = setup(1, 1);
    const a = director.routeWithPrompt(input()) as Pick;
    const abort = new AbortController();
    const waiting = director.routeWithPrompt(input(undefined, abort.signal)) as Promise<Pick>;
    expect(queue.length(MODEL)).toBe(1);
    abort.abort();
    await expect(waiting).rejects.toThrow(/cancelled/);
    expect(queue.length(MODEL)).toBe(0);
    if (a.t !== "none") a.release({ kind: "success" });
    expect(deps.pending.size()).toBe(0);
  });
});
