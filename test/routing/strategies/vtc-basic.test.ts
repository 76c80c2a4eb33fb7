import type { Pod } from "../../../src/cluster/pod";
import { createDirector } from "../../../src/routing/director";
import type { Outcome, RoutingContext, StrategyDeps } from "../../../src/routing/framework";
import { createStrategyRegistry } from "../../../src/routing/registry";
import { registerBuiltins } from "../../../src/routing/strategies";
import {
  createVtcBasic,
  factory,
  paramsSchema,
  TYPE,
  type VtcBasicParams,
  type VtcBasicStrategy,
} from "../../../src/routing/strategies/vtc-basic";
import {
  byPod,
  headersOf,
  makeContext,
  makeFleet,
  makeMetrics,
  makeRequest,
  MODEL,
  preload,
  seededRandom,
  type Fleet,
} from "../pods";
import { runStrategyContract } from "../strategy-contract";

runStrategyContract({
  name: TYPE,
  factory,
  headerSets: [{}, { user: "alice" }, { user: "x".repeat(300) }],
  signalSets: [{}, { metrics: (i) => makeMetrics({ requestsRunning: i * 30 }) }],
});

/** A strategy on a clock the test moves. */
function setup(params: Partial<VtcBasicParams> = {}): { s: VtcBasicStrategy; clock: { ms: number } } {
  const clock = { ms: 10_000_000 };
  const deps: StrategyDeps = { now: () => clock.ms };
  return { s: createVtcBasic(paramsSchema.parse(params), deps), clock };
}

/** A context for `user` (no header when undefined) asking for a `promptTokens`-token chat completion. */
function ctxFor(
  fleet: Fleet,
  user: string | undefined,
  options: { promptTokens?: number; metrics?: ReadonlyMap<string, ReturnType<typeof makeMetrics>> } = {},
): RoutingContext {
  return makeContext(fleet.load, {
    headers: user === undefined ? {} : { user },
    random: seededRandom(5),
    request: { promptTokens: options.promptTokens ?? 10 },
    ...(options.metrics ? { metrics: options.metrics } : {}),
  });
}

/** Charge `user` as if routed, with a prompt of `promptTokens`; returns the finisher. */
function charge(s: VtcBasicStrategy, fleet: Fleet, user: string, promptTokens: number) {
  const finish = s.onRouted?.(ctxFor(fleet, user, { promptTokens }), fleet.pods[0] as Pod);
  if (!finish) throw new Error("expected a finisher");
  return finish;
}

/** Index of the best-scoring pod (highest score). */
function best(s: VtcBasicStrategy, ctx: RoutingContext, pods: readonly Pod[]): number {
  const r = s.score(ctx, pods);
  if (r.t !== "scores") throw new Error(`abstained: ${r.reason}`);
  const scores = Array.from(r.scores);
  return scores.indexOf(Math.max(...scores));
}

describe(TYPE, () => {
  it("abstains without a user header (AIBrix picks at random) and for an over-long one", () => {
    const { s } = setup();
    const fleet = makeFleet(3);
    expect(s.score(ctxFor(fleet, undefined), fleet.pods)).toEqual({ t: "abstain", reason: "no-user" });
    expect(s.score(ctxFor(fleet, ""), fleet.pods)).toEqual({ t: "abstain", reason: "no-user" });
    expect(s.score(ctxFor(fleet, "u".repeat(257)), fleet.pods)).toEqual({
      t: "abstain",
      reason: "user-too-long",
    });
    expect(s.onRouted?.(ctxFor(fleet, undefined), fleet.pods[0] as Pod)).toBeUndefined();
    expect(s.tracker.size()).toBe(0);
  });

  it("charges the estimate at routing time: in·1 + ceil(in·1.5)·2, output capped by max_tokens", () => {
    const { s } = setup();
    const fleet = makeFleet(2);
    charge(s, fleet, "alice", 100);
    expect(s.tracker.tokens("alice")).toBe(100 + 150 * 2);
    const capped = makeContext(fleet.load, {
      headers: { user: "bob" },
      request: { promptTokens: 100, maxTokens: 20 },
    });
    s.onRouted?.(capped, fleet.pods[0] as Pod);
    expect(s.tracker.tokens("bob")).toBe(100 + 20 * 2);
    const embedding = makeContext(fleet.load, {
      headers: { user: "carol" },
      request: { promptTokens: 100, endpoint: "embeddings" },
    });
    s.onRouted?.(embedding, fleet.pods[0] as Pod);
    expect(s.tracker.tokens("carol")).toBe(100);
  });

  it("the finisher replaces the estimate with the reported usage, and keeps it without usage", () => {
    const { s, clock } = setup({ inputTokenWeight: 1, outputTokenWeight: 3 });
    const fleet = makeFleet(2);
    const finish = charge(s, fleet, "alice", 100);
    const kept = charge(s, fleet, "bob", 100);
    clock.ms += 30_000; // the response ends in a later slot
    finish({ kind: "success", promptTokens: 120, completionTokens: 1000 } satisfies Outcome);
    kept({ kind: "upstream-error", status: 503 });
    expect(s.tracker.tokens("alice")).toBe(120 + 3000);
    expect(s.tracker.tokens("bob")).toBe(100 + 150 * 3);
    const embed = charge(s, fleet, "carol", 100);
    embed({ kind: "success", promptTokens: 7 });
    expect(s.tracker.tokens("carol")).toBe(7);
  });

  it("pushes a heavy user towards the last pods and keeps a light user on the first", () => {
    const { s } = setup({ utilizationWeight: 0 });
    const fleet = makeFleet(4);
    charge(s, fleet, "light", 4); // 4 + 6·2 = 16 tokens
    charge(s, fleet, "heavy", 4000); // 4000 + 6000·2 = 16000 tokens
    // bucket = max(1000, (16 + 16000)/2) = 8008: heavy → 16000/8008 ≈ 2.0, light → ≈ 0.
    expect(best(s, ctxFor(fleet, "heavy"), fleet.pods)).toBe(2);
    expect(best(s, ctxFor(fleet, "light"), fleet.pods)).toBe(0);
    expect(best(s, ctxFor(fleet, "newcomer"), fleet.pods)).toBe(0);
    // As in AIBrix, the heaviest user sits at 2·max/(min + max) < 2: positions past 2 only serve users above the
    // bucket floor while everyone is below it.
    charge(s, fleet, "heavy", 40_000);
    expect(best(s, ctxFor(fleet, "heavy"), fleet.pods)).toBe(2);
  });

  it("clamps the position to the last pod; a lone user below the floor is placed at tokens / minTokens", () => {
    const { s } = setup({ utilizationWeight: 0 });
    const two = makeFleet(2);
    charge(s, two, "light", 4);
    charge(s, two, "heavy", 4000);
    expect(best(s, ctxFor(two, "heavy"), two.pods)).toBe(1);
    const { s: alone } = setup({ utilizationWeight: 0 });
    const three = makeFleet(3);
    charge(alone, three, "solo", 200); // 200 + 300·2 = 800 tokens: 800 / max(1000, 800) = 0.8
    expect(best(alone, ctxFor(three, "solo"), three.pods)).toBe(1);
  });

  it("positions pods by key, not by the order they are given in", () => {
    const { s } = setup({ utilizationWeight: 0 });
    const fleet = makeFleet(4);
    charge(s, fleet, "light", 4);
    charge(s, fleet, "heavy", 40_000);
    const reversed = [...fleet.pods].reverse();
    expect(reversed[best(s, ctxFor(fleet, "heavy"), reversed)]).toBe(fleet.pods[2]);
    expect(reversed[best(s, ctxFor(fleet, "light"), reversed)]).toBe(fleet.pods[0]);
  });

  // heavy's position is 16000 / 8008 ≈ 2, so fairness |i − 2| ≈ 2, 1, 0, 1; utilization is running / 100.
  it.each<[string, Partial<VtcBasicParams>, number[], number]>([
    ["fairness only: its own pod, however busy", { utilizationWeight: 0 }, [0, 0, 100, 100], 2],
    ["equal weights: its own pod at half load", { utilizationWeight: 1 }, [0, 50, 50, 100], 2],
    ["utilization ×2: an idle neighbour of its full pod", { utilizationWeight: 2 }, [0, 0, 100, 100], 1],
    ["utilization ×3: the idle first pod", { utilizationWeight: 3 }, [0, 50, 100, 100], 0],
    ["utilization only: the least loaded", { fairnessWeight: 0 }, [90, 50, 100, 20], 3],
  ])("weighs fairness against utilization: %s", (_label, weights, running, expected) => {
    const { s } = setup(weights);
    const fleet = makeFleet(4);
    charge(s, fleet, "light", 4);
    charge(s, fleet, "heavy", 4000);
    preload(fleet.load, fleet.pods, running);
    expect(best(s, ctxFor(fleet, "heavy"), fleet.pods)).toBe(expected);
  });

  it("reads num_requests_running when the engine's metrics are fresh, kvroute's in-flight count otherwise", () => {
    const { s } = setup({ fairnessWeight: 0 });
    const fleet = makeFleet(3);
    preload(fleet.load, fleet.pods, [50, 10, 80]);
    expect(best(s, ctxFor(fleet, "u"), fleet.pods)).toBe(1);
    // Fresh metrics say pod 1 is busy for this model and pod 0 idle; pod 2 has none and keeps its own count.
    const metrics = byPod(fleet.pods, [
      makeMetrics({ requestsRunning: 0 }),
      makeMetrics({ requestsRunning: 1, byModel: new Map([[MODEL, { requestsRunning: 90 }]]) }),
      undefined,
    ]);
    expect(best(s, ctxFor(fleet, "u", { metrics }), fleet.pods)).toBe(0);
  });

  it("forgets a user's tokens once the window has passed (injected clock)", () => {
    const { s, clock } = setup({ utilizationWeight: 0, windowSize: 10, timeUnit: "seconds" });
    const fleet = makeFleet(4);
    charge(s, fleet, "light", 4);
    charge(s, fleet, "heavy", 40_000);
    expect(best(s, ctxFor(fleet, "heavy"), fleet.pods)).toBe(2);
    clock.ms += 9_000;
    expect(s.tracker.tokens("heavy")).toBeGreaterThan(0);
    clock.ms += 2_000;
    expect(s.tracker.tokens("heavy")).toBe(0);
    expect(best(s, ctxFor(fleet, "heavy"), fleet.pods)).toBe(0);
  });

  it("tracks at most maxUsers users, forgetting the least recently charged", () => {
    const { s } = setup({ maxUsers: 2 });
    const fleet = makeFleet(2);
    charge(s, fleet, "a", 10);
    charge(s, fleet, "b", 10);
    charge(s, fleet, "a", 10);
    charge(s, fleet, "c", 10);
    expect(s.tracker.size()).toBe(2);
    expect(s.tracker.tokens("b")).toBe(0);
    expect(s.tracker.tokens("a")).toBeGreaterThan(0);
  });

  it("rejects params outside their ranges", () => {
    for (const bad of [{ windowSize: 0 }, { timeUnit: "hours" }, { minTokens: 0 }, { fairnessWeight: -1 }]) {
      expect(paramsSchema.safeParse(bad).success).toBe(false);
    }
    expect(paramsSchema.safeParse({ typo: 1 }).success).toBe(false);
  });

  describe("through the director", () => {
    function director(fleet: Fleet, params: Partial<VtcBasicParams> = {}) {
      const fallbacks: [string, string][] = [];
      const registry = createStrategyRegistry({ params: { [TYPE]: params }, deps: { now: () => 0 } });
      registerBuiltins(registry);
      const d = createDirector({
        registry,
        cluster: () => fleet.store.snapshot(),
        load: fleet.load,
        defaultStrategy: TYPE,
        random: seededRandom(9),
        observer: { onFallback: (t, r) => fallbacks.push([t, r]) },
      });
      const route = (headers: Record<string, string>, promptTokens = 10) =>
        d.route({
          requestId: "r",
          request: makeRequest(MODEL, promptTokens),
          headers: headersOf(headers),
          strategyHeader: undefined,
        });
      return { route, fallbacks };
    }

    it("without a user: a counted fallback to least-request with reason no-user", () => {
      const fleet = makeFleet(3);
      preload(fleet.load, fleet.pods, [2, 0, 1]);
      const { route, fallbacks } = director(fleet);
      const pick = route({});
      expect(pick).toMatchObject({ t: "fallback", reason: "no-user", fallbackTo: "least-request" });
      expect(pick.t !== "none" && pick.pod).toBe(fleet.pods[1]);
      expect(fallbacks).toEqual([[TYPE, "no-user"]]);
    });

    it("release settles the charge with the usage, so a heavy user's next request moves up", () => {
      const fleet = makeFleet(3);
      const { route } = director(fleet, { utilizationWeight: 0 });
      const light = route({ user: "light" });
      const heavy = route({ user: "heavy" });
      if (light.t !== "routed" || heavy.t !== "routed") throw new Error("expected routed picks");
      expect([light.pod, heavy.pod]).toEqual([fleet.pods[0], fleet.pods[0]]);
      light.release({ kind: "success", promptTokens: 10, completionTokens: 5 });
      heavy.release({ kind: "success", promptTokens: 10, completionTokens: 50_000 });
      const next = route({ user: "heavy" });
      expect(next.t !== "none" && next.pod).toBe(fleet.pods[2]);
      expect(route({ user: "light" })).toMatchObject({ t: "routed", pod: fleet.pods[0] });
    });
  });
});
