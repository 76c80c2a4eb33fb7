import { createBlockHasher } from "../../../src/prefix/block-hasher";
import type { BlockHasher } from "../../../src/prefix/block-key";
import type { Pod } from "../../../src/cluster/pod";
import type { GpuProfile } from "../../../src/cluster/gpu-profiles";
import { PendingLoadAccumulator } from "../../../src/cluster/pending-load";
import type { StrategyDeps } from "../../../src/routing/framework";
import { factory, TYPE } from "../../../src/routing/strategies/prefix-affinity";
import { createPrefillGate } from "../../../src/routing/strategies/prefix-affinity/gate";
import { makePrefixFixture, makePrompt, range, SEED, storeEvent } from "../../prefix/fixtures";
import { makeContext, makeFleet, makeMetrics, makePod, MODEL, preload } from "../pods";
import { runStrategyContract } from "../strategy-contract";
import { prefixContractFixture } from "./prefix-contract-fixture";
import { best, cold, GATE_100, key, makeRig, OK, PROMPT } from "./prefix-affinity-rig";
import type { Rig } from "./prefix-affinity-rig";

let hasher: BlockHasher;
beforeAll(async () => {
  hasher = await createBlockHasher(SEED);
});

runStrategyContract({
  name: TYPE,
  factory,
  deps: () => ({ now: () => 0, prefix: prefixContractFixture(hasher).deps }),
  prompt: () => makePrompt(hasher, range(40)),
  signalSets: [
    {},
    { metrics: (i) => makeMetrics({ promptTokensTotal: 1000 * i, scrapedAtMs: 10 * i }) },
    { metrics: (i) => (i % 2 === 0 ? makeMetrics({ promptTokensTotal: Number.NaN }) : undefined) },
  ],
});
runStrategyContract({ name: `${TYPE} without indexes`, factory });

const rig = (n: number, params: unknown = {}, deps: Partial<StrategyDeps> = {}): Rig =>
  makeRig(hasher, n, params, deps);

describe(TYPE, () => {
  it("sticks to the pod holding the prompt while its look-ahead backlog is under the gate, then leaves", () => {
    const r = rig(2, GATE_100);
    r.f.approximate.add(key(0), hasher.chain(PROMPT, 4, ""));
    expect(best(r.score())).toBe(0);
    // Two cold prompts on pod-0: 80 uncached tokens there, 0 + 0 for this prompt → 80 ≤ 100: still sticky,
    // although pod-1 (look-ahead 40, a full recompute) is lighter.
    r.route(0, cold(1));
    const second = r.route(0, cold(2));
    expect(best(r.score())).toBe(0);
    // A third: 120 > 100 → over the gate; pod-1's 40 is the least look-ahead backlog.
    const third = r.route(0, cold(3));
    expect(best(r.score())).toBe(1);
    // A release gives its 40 back exactly once: after a repeated release pod-0 is at 80 (under), and one more
    // cold prompt takes it to 120 (over); had the repeat counted, it would be at 80 and still under.
    third(OK);
    third(OK);
    expect(best(r.score())).toBe(0);
    r.route(0, cold(4));
    expect(best(r.score())).toBe(1);
    second(OK);
    expect(best(r.score())).toBe(0);
  });

  it("among affine pods under the gate prefers the best hit, then the least backlog", () => {
    const r = rig(3, GATE_100);
    r.f.approximate.add(key(0), hasher.chain(range(24), 4, ""));
    r.f.approximate.add(key(1), hasher.chain(PROMPT, 4, ""));
    r.f.approximate.add(key(2), hasher.chain(PROMPT, 4, ""));
    r.route(1, cold(1)); // pod-1: 40 in flight, still under the gate
    expect(best(r.score())).toBe(2);
    r.route(2, cold(2));
    r.route(2, cold(3)); // pod-2: 80 > pod-1's 40, both under the gate, equal hits
    expect(best(r.score())).toBe(1);
  });

  it("a pod under the threshold fraction is not affine: the least look-ahead backlog decides", () => {
    const r = rig(2, GATE_100);
    // pod-0 holds 16 of 40 tokens (0.4): look-ahead 40 (in flight) + 24 = 64; pod-1 0 + 40 = 40.
    r.f.approximate.add(key(0), hasher.chain(range(16), 4, ""));
    r.route(0, cold(1));
    expect(best(r.score())).toBe(1);
    const lower = rig(2, { ...GATE_100, threshold: 0.3 });
    lower.f.approximate.add(key(0), hasher.chain(range(16), 4, ""));
    lower.route(0, cold(1));
    expect(best(lower.score())).toBe(0);
  });

  it("reads the precise index for pods publishing KV events", () => {
    const r = rig(2, GATE_100);
    r.f.publishing.add(key(0));
    r.f.publishing.add(key(1));
    storeEvent(r.f.events, key(1), PROMPT, 4);
    // The approximate index believes pod-0; the events of a publishing pod win.
    r.f.approximate.add(key(0), hasher.chain(PROMPT, 4, ""));
    expect(best(r.score())).toBe(1);
  });

  it("without any throughput the gate is relative: one cold prefill above the least look-ahead backlog", () => {
    const r = rig(2);
    r.f.approximate.add(key(0), hasher.chain(PROMPT, 4, ""));
    // pod-0: 40 in flight + 0 = 40 ≤ min(40, 40) + 40 → sticky.
    r.route(0, cold(1));
    expect(best(r.score())).toBe(0);
    // 80 ≤ 40 + 40 → still sticky; 120 > 80 → leaves.
    r.route(0, cold(2));
    expect(best(r.score())).toBe(0);
    r.route(0, cold(3));
    expect(best(r.score())).toBe(1);
  });

  it("a move carries the held backlog to the serving pod at its own uncached count", () => {
    const r = rig(2, GATE_100);
    r.f.approximate.add(key(1), hasher.chain(PROMPT, 4, ""));
    const a = r.route(0, cold(1));
    const b = r.route(0, cold(2));
    const c = r.route(0, cold(3));
    // pod-0 has 120; the gateway served them on pod-1 instead: 120 there (cold prompts), 0 on pod-0.
    a.moveTo?.(r.fleet.pods[1] as Pod);
    b.moveTo?.(r.fleet.pods[1] as Pod);
    c.moveTo?.(r.fleet.pods[1] as Pod);
    // pod-1 holds the prompt but is over its gate (120 > 100) → least look-ahead: pod-0 at 40.
    expect(best(r.score())).toBe(0);
    a(OK);
    expect(best(r.score())).toBe(1);
  });

  it("a held share drains at the pod's throughput behind the shares queued before it", () => {
    let now = 0;
    // 100 tokens/s × 0.2 s: a prompt may wait at most 20 tokens more than on the least busy pod.
    const r = rig(2, { ...GATE_100, ttftPenaltySeconds: 0.2 }, { now: () => now });
    r.f.approximate.add(key(0), hasher.chain(PROMPT, 4, ""));
    // 120 uncached on pod-0 at 100 tokens/s; pod-1's look-ahead is 40 → τ = 60: over until 60 have drained.
    r.route(0, cold(1));
    r.route(0, cold(2));
    r.route(0, cold(3));
    expect(best(r.score())).toBe(1);
    now = 550; // 55 drained: 65 left, still over
    expect(best(r.score())).toBe(1);
    now = 650; // 65 drained: 55 left, under
    expect(best(r.score())).toBe(0);
    // Two more queue behind the 55 (drained at 1200 ms), done at 1600 and 2000 ms. At 1100 ms: 10 + 40 + 40 =
    // 90, over (had they started draining when routed they would be at 10 + 0 + 35 = 45); at 1500 ms: 10 + 40.
    r.route(0, cold(4));
    r.route(0, cold(5));
    now = 1100;
    expect(best(r.score())).toBe(1);
    now = 1500;
    expect(best(r.score())).toBe(0);
  });

  it("when every pod is backed up alike the prompt stays on its cache past throughput × penalty", () => {
    const r = rig(2, GATE_100);
    r.f.approximate.add(key(0), hasher.chain(PROMPT, 4, ""));
    for (let k = 1; k <= 4; k++) r.route(1, cold(k)); // pod-1: 160 held → look-ahead 200
    for (let k = 5; k <= 10; k++) r.route(0, cold(k)); // pod-0: 240 held, 0 uncached for this prompt
    // 240 > 100 (an absolute gate would leave for pod-1's 200), but ≤ 200 + one cold prefill (40): sticky.
    expect(best(r.score())).toBe(0);
    r.route(0, cold(11)); // 280 > 240 → leaves for the least look-ahead backlog
    expect(best(r.score())).toBe(1);
  });

  it("the engine's waiting queue corrects the drain: its newest waiting shares count in full", () => {
    let now = 0;
    const r = rig(2, GATE_100, { now: () => now });
    r.f.approximate.add(key(0), hasher.chain(PROMPT, 4, ""));
    r.route(0, cold(1));
    r.route(0, cold(2));
    r.route(0, cold(3));
    now = 10_000; // drained by the model: pod-0 back under its gate
    expect(best(r.score())).toBe(0);
    // The engine says 3 requests still wait: the 3 newest shares (120) count → over the gate; 2 waiting: 80.
    const waiting = (n: number) => [makeMetrics({ requestsWaiting: n, scrapedAtMs: now }), undefined];
    expect(best(r.score(PROMPT, waiting(3)))).toBe(1);
    expect(best(r.score(PROMPT, waiting(2)))).toBe(0);
  });

  it("a first token ends the share and those queued before it; the pod's later shares drain from then", () => {
    let now = 0;
    const r = rig(2, GATE_100, { now: () => now });
    r.f.approximate.add(key(0), hasher.chain(PROMPT, 4, ""));
    // Four cold prompts on pod-0 at 100 tokens/s: modelled done at 400, 800, 1200 and 1600 ms. Look-ahead 160
    // against τ = pod-1's 40 + 40 = 80: the prompt leaves.
    r.route(0, cold(1));
    const second = r.route(0, cold(2));
    r.route(0, cold(3));
    r.route(0, cold(4));
    expect(best(r.score())).toBe(1);
    // At 100 ms the second prompt's first token: it and the first are prefilled, the other two now drain from
    // 100 ms (done at 500 and 900 ms): 80 ≤ 80, the prompt stays (the model alone would count 30 + 120 = 150).
    now = 100;
    second.firstToken?.();
    expect(best(r.score())).toBe(0);
    // At 900 ms the re-anchored queue is empty, so a new cold prompt counts 40 (on the old schedule 30 + 40 would
    // still be queued before it: 110, over the gate); two more: 80 (stays), then 120 (leaves).
    now = 900;
    r.route(0, cold(5));
    expect(best(r.score())).toBe(0);
    r.route(0, cold(6));
    expect(best(r.score())).toBe(0);
    r.route(0, cold(7));
    expect(best(r.score())).toBe(1);
  });

  it("equal backlogs (within 1%) go to the pod with fewer requests in flight", () => {
    const r = rig(3, GATE_100);
    // Nothing held, nothing queued: look-ahead 40 everywhere; kvroute has 2, 1 and 3 requests in flight.
    preload(r.fleet.load, r.fleet.pods, [2, 1, 3]);
    expect(best(r.score())).toBe(1);
    // A real backlog difference still wins over requests: 40 queued on pod-1 makes pod-0 the lightest.
    r.route(1, cold(1));
    expect(best(r.score())).toBe(0);
  });

  it("abstains no-tokens without tokens and no-prefix-index without indexes", () => {
    const fleet = makeFleet(2);
    const f = makePrefixFixture(hasher);
    const withIdx = factory.create(factory.paramsSchema.parse({}), { now: () => 0, prefix: f.deps });
    expect(best(withIdx.score(makeContext(fleet.load), fleet.pods))).toBe("no-tokens");
    const without = factory.create(factory.paramsSchema.parse({}), { now: () => 0 });
    const ctx = makeContext(fleet.load, { prompt: makePrompt(hasher, range(8)) });
    expect(best(without.score(ctx, fleet.pods))).toBe("no-prefix-index");
  });

  it("has documented defaults and rejects unknown params", () => {
    expect(factory.paramsSchema.parse({})).toEqual({
      threshold: 0.5,
      ttftPenaltySeconds: 1,
      prefillTokensPerSecond: {},
    });
    expect(() => factory.paramsSchema.parse({ gate: 1 })).toThrow();
    expect(() => factory.paramsSchema.parse({ threshold: 0 })).toThrow();
  });
});

describe(`${TYPE} gate`, () => {
  const pod = makePod(0);
  const profile: GpuProfile = {
    deployment: "d",
    cost: 1,
    // 2^10 = 1024 and 2^12 = 4096 input tokens at the smallest output: 5 and 3 RPS → 5120 and 12288 tokens/s.
    indexes: [
      [4, 6],
      [10, 12],
    ],
    tputs: [
      [5, 3],
      [1, 1],
    ],
    created: 0,
  };
  const slo = (p: GpuProfile | undefined) => ({
    profileFor: () => p,
    pending: new PendingLoadAccumulator(),
    predictOutput: () => 1,
  });
  const metrics = (atMs: number, prompt: number, hits = 0) =>
    makeMetrics({ scrapedAtMs: atMs, promptTokensTotal: prompt, prefixCacheHitsTotal: hits });

  it("takes the throughput from the flag, else the GPU profile, else the pod's measured rate", () => {
    const params = { ttftPenaltySeconds: 0.5, prefillTokensPerSecond: { other: 1 } };
    const measured = createPrefillGate(params, slo(undefined));
    expect(measured.throughput(MODEL, pod)).toBeUndefined();
    // 30,000 prompt tokens of which 10,000 cached over 2 s: 10,000 computed tokens/s.
    measured.observe(pod.key, metrics(1000, 0));
    measured.observe(pod.key, metrics(3000, 30_000, 10_000));
    expect(measured.throughput(MODEL, pod)).toEqual({ tokensPerSecond: 10_000, source: "measured" });
    // τ = least look-ahead + the smaller of one cold prefill of this prompt and throughput × penalty.
    expect(measured.tokens(MODEL, pod, 300, 40)).toBe(340);
    expect(measured.tokens(MODEL, pod, 300, 8000)).toBe(5300);
    const profiled = createPrefillGate(params, slo(profile));
    profiled.observe(pod.key, metrics(1000, 0));
    profiled.observe(pod.key, metrics(3000, 30_000));
    expect(profiled.throughput(MODEL, pod)).toEqual({ tokensPerSecond: 12_288, source: "gpu-profile" });
    const flagged = createPrefillGate({ ...params, prefillTokensPerSecond: { [MODEL]: 7000 } }, slo(profile));
    expect(flagged.throughput(MODEL, pod)).toEqual({ tokensPerSecond: 7000, source: "flag" });
    expect(flagged.tokens(MODEL, pod, 0, 8000)).toBe(3500);
  });

  it("without a throughput τ is the least look-ahead backlog plus one cold prefill", () => {
    const gate = createPrefillGate({ ttftPenaltySeconds: 1, prefillTokensPerSecond: {} }, undefined);
    expect(gate.tokens(MODEL, pod, 300, 40)).toBe(340);
  });
});
