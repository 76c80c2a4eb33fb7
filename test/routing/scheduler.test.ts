import type { Pod } from "../../src/cluster/pod";
import type { ScoreResult, Strategy } from "../../src/routing/framework";
import { createStrategyRegistry, type StrategyPlan } from "../../src/routing/registry";
import { createScheduler, randomIndex, type SchedulerObserver } from "../../src/routing/scheduler";
import { registerBuiltins } from "../../src/routing/strategies";
import { makeContext, makeFleet, preload, seededRandom, sequence } from "./pods";

/** A strategy with fixed behaviour. */
function fake(
  type: string,
  score: (pods: readonly Pod[]) => ScoreResult,
  extra: Partial<Strategy> = {},
): Strategy {
  return { type, reads: [], score: (_ctx, pods) => score(pods), ...extra };
}
const scores =
  (...values: number[]) =>
  (): ScoreResult => ({ t: "scores", scores: values });
const abstain = (reason: string) => (): ScoreResult => ({ t: "abstain", reason });

/** A plan of strategies with the given weights. */
function plan(...items: [Strategy, number][]): StrategyPlan {
  const total = items.reduce((s, [, w]) => s + w, 0);
  return {
    raw: items.map(([s, w]) => `${s.type}:${w}`).join(","),
    entries: items.map(([strategy, weight]) => ({ strategy, weight, share: weight / total })),
  };
}

/** An observer that records every call. */
function recorder() {
  const calls = {
    bad: [] as string[],
    fallback: [] as [string, string][],
    durations: [] as [string, number][],
  };
  const observer: SchedulerObserver = {
    onBadScore: (t) => calls.bad.push(t),
    onFallback: (s, r) => calls.fallback.push([s, r]),
    onStrategyDuration: (t, ms) => calls.durations.push([t, ms]),
  };
  return { calls, observer };
}

describe("scheduler", () => {
  const fleet = makeFleet(3);
  const pods = fleet.pods;
  const ctx = (random: () => number = seededRandom(3)) => makeContext(fleet.load, { random });

  it("picks the highest weighted total", () => {
    const p = plan([fake("a", scores(1, 0, 0)), 1], [fake("b", scores(0, 1, 0)), 3]);
    expect(createScheduler().schedule(p, ctx(), pods)).toEqual({ t: "routed", pod: pods[1] });
  });

  describe("least-request:3,random", () => {
    const registry = createStrategyRegistry();
    registerBuiltins(registry);
    const combined = registry.resolve("least-request:3,random");

    it("never overrides a clear load difference (random adds at most 0.25)", () => {
      const f = makeFleet(3);
      preload(f.load, f.pods, [1, 0, 2]); // least-request scores 0.5, 1, 0 → 0.375, 0.75, 0 before jitter
      const s = createScheduler();
      for (let seed = 0; seed < 300; seed++) {
        const decision = s.schedule(combined, makeContext(f.load, { random: seededRandom(seed) }), f.pods);
        expect(decision).toEqual({ t: "routed", pod: f.pods[1] });
      }
    });

    it("spreads between equally loaded pods and never picks the busy one", () => {
      const f = makeFleet(3);
      preload(f.load, f.pods, [0, 0, 4]);
      const s = createScheduler();
      const counts = [0, 0, 0];
      for (let seed = 0; seed < 600; seed++) {
        const d = s.schedule(combined, makeContext(f.load, { random: seededRandom(seed) }), f.pods);
        if (d.t !== "routed") throw new Error("expected routed");
        counts[f.pods.indexOf(d.pod)]! += 1;
      }
      expect(counts[2]).toBe(0);
      expect(counts[0]).toBeGreaterThan(240);
      expect(counts[1]).toBeGreaterThan(240);
    });
  });

  it.each<[string, number[]]>([
    ["NaN", [NaN, 0.5, 0.2]],
    ["+Infinity", [Infinity, 0.5, 0.2]],
    ["-Infinity", [-Infinity, 0.5, 0.2]],
  ])("counts %s as a bug and treats it as 0", (_label, values) => {
    const { calls, observer } = recorder();
    const d = createScheduler({ observer }).schedule(plan([fake("bad", scores(...values)), 1]), ctx(), pods);
    expect(d).toEqual({ t: "routed", pod: pods[1] });
    expect(calls.bad).toEqual(["bad"]);
  });

  it.each<[string, number[], number]>([
    ["above 1 (clamped to 1, ties the other 1)", [7, 1, 0], -1],
    ["below 0 (clamped to 0)", [-3, 0.1, 0], 1],
  ])("clamps a score %s and reports it", (_label, values, expected) => {
    const { calls, observer } = recorder();
    const d = createScheduler({ observer }).schedule(plan([fake("loud", scores(...values)), 1]), ctx(), pods);
    if (d.t !== "routed") throw new Error("expected routed");
    if (expected >= 0) expect(d.pod).toBe(pods[expected]);
    else expect([pods[0], pods[1]]).toContain(d.pod);
    expect(calls.bad).toEqual(["loud"]);
  });

  it("counts a score array of the wrong length and ignores it", () => {
    const { calls, observer } = recorder();
    const p = plan([fake("short", scores(1)), 1], [fake("ok", scores(0, 0, 1)), 1]);
    expect(createScheduler({ observer }).schedule(p, ctx(), pods)).toEqual({ t: "routed", pod: pods[2] });
    expect(calls.bad).toEqual(["short"]);
  });

  it("lets a scoring strategy decide when another abstains", () => {
    const { calls, observer } = recorder();
    const p = plan([fake("quiet", abstain("no-signal")), 5], [fake("ok", scores(0, 1, 0)), 1]);
    expect(createScheduler({ observer }).schedule(p, ctx(), pods)).toEqual({ t: "routed", pod: pods[1] });
    expect(calls.fallback).toEqual([]);
  });

  it("falls back to the fewest in flight with the first reason when every strategy abstains", () => {
    const { calls, observer } = recorder();
    const f = makeFleet(3);
    preload(f.load, f.pods, [2, 0, 1]);
    const p = plan([fake("q1", abstain("no-session-key")), 1], [fake("q2", abstain("metrics-missing")), 1]);
    const s = createScheduler({ observer });
    for (const r of [0.0, 0.5, 0.99]) {
      expect(s.schedule(p, makeContext(f.load, { random: sequence([r]) }), f.pods)).toEqual({
        t: "fallback",
        pod: f.pods[1],
        strategy: "q1",
        reason: "no-session-key",
        fallbackTo: "least-request",
      });
    }
    expect(calls.fallback).toEqual([
      ["q1", "no-session-key"],
      ["q1", "no-session-key"],
      ["q1", "no-session-key"],
    ]);
  });

  it.each<[number[], number, number]>([
    [[1, 1, 0, 0], 0.0, 2],
    [[1, 1, 0, 0], 0.99, 3],
    [[0, 0, 0, 0], 0.3, 1],
    [[5, 5, 5, 4], 0.99, 3],
  ])("breaks fallback ties among the least loaded %j at random (%d → pod %d)", (inflight, r, expected) => {
    const f = makeFleet(inflight.length);
    preload(f.load, f.pods, inflight);
    const d = createScheduler().schedule(
      plan([fake("q", abstain("metrics-missing")), 1]),
      makeContext(f.load, { random: sequence([r]) }),
      f.pods,
    );
    expect(d).toMatchObject({ t: "fallback", pod: f.pods[expected], fallbackTo: "least-request" });
  });

  it("spreads fallback picks evenly over idle pods", () => {
    const f = makeFleet(3);
    const s = createScheduler();
    const p = plan([fake("q", abstain("metrics-missing")), 1]);
    const counts = [0, 0, 0];
    for (let seed = 0; seed < 600; seed++) {
      const d = s.schedule(p, makeContext(f.load, { random: seededRandom(seed) }), f.pods);
      if (d.t !== "fallback") throw new Error("expected fallback");
      counts[f.pods.indexOf(d.pod)]! += 1;
    }
    for (const c of counts) expect(c).toBeGreaterThan(150);
  });

  it.each<[number, number]>([
    [0.0, 0],
    [0.34, 1],
    [0.99, 2],
  ])("breaks exact ties with ctx.random() (%d → pod %d)", (r, expected) => {
    const d = createScheduler().schedule(
      plan([fake("flat", scores(0.5, 0.5, 0.5)), 1]),
      ctx(sequence([r])),
      pods,
    );
    expect(d).toEqual({ t: "routed", pod: pods[expected] });
  });

  it("treats totals within 1e-9 as tied, and only those", () => {
    const p = plan([fake("near", scores(0.3, 0.3 + 1e-12, 0.29)), 1]);
    const seen = new Set<Pod>();
    for (let seed = 0; seed < 50; seed++) {
      const d = createScheduler().schedule(p, ctx(seededRandom(seed)), pods);
      if (d.t === "routed") seen.add(d.pod);
    }
    expect(seen).toEqual(new Set([pods[0], pods[1]]));
  });

  it("runs filters in order and answers none when they leave nothing", () => {
    const order: string[] = [];
    const f1 = fake("f1", scores(1, 1, 1), {
      filter: (_c, ps) => {
        order.push(`f1:${ps.length}`);
        return ps.slice(1);
      },
    });
    const f2 = fake("f2", scores(1, 1), {
      filter: (_c, ps) => {
        order.push(`f2:${ps.length}`);
        return ps.slice(1);
      },
    });
    expect(createScheduler().schedule(plan([f1, 1], [f2, 1]), ctx(), pods)).toEqual({
      t: "routed",
      pod: pods[2],
    });
    expect(order).toEqual(["f1:3", "f2:2"]);
    const none = fake("none", scores(), { filter: () => [] });
    expect(createScheduler().schedule(plan([none, 1], [f1, 1]), ctx(), pods)).toEqual({ t: "none" });
    expect(createScheduler().schedule(plan([f1, 1]), ctx(), [])).toEqual({ t: "none" });
  });

  it("drops pods a filter adds and counts it", () => {
    const { calls, observer } = recorder();
    const stranger = makeFleet(9).pods[8] as Pod;
    const widen = fake("widen", (ps) => ({ t: "scores", scores: ps.map(() => 1) }), {
      filter: (_c, ps) => [stranger, ...ps.slice(0, 1)],
    });
    expect(createScheduler({ observer }).schedule(plan([widen, 1]), ctx(), pods)).toEqual({
      t: "routed",
      pod: pods[0],
    });
    expect(calls.bad).toEqual(["widen"]);
  });

  it("times each strategy once per decision, filter and score together", () => {
    const { calls, observer } = recorder();
    let t = 0;
    const nowMs = () => (t += 2);
    const a = fake("a", scores(1, 0, 0), { filter: (_c, ps) => ps });
    const b = fake("b", abstain("x"));
    createScheduler({ observer, nowMs }).schedule(plan([a, 1], [b, 1]), ctx(), pods);
    expect(calls.durations).toEqual([
      ["a", 4],
      ["b", 2],
    ]);
  });

  it("propagates a throwing strategy and still reports its time", () => {
    const { calls, observer } = recorder();
    const boom = fake("boom", () => {
      throw new Error("bug");
    });
    const s = createScheduler({ observer, nowMs: () => 0 });
    expect(() => s.schedule(plan([boom, 1]), ctx(), pods)).toThrow("bug");
    expect(calls.durations).toEqual([["boom", 0]]);
  });

  it.each<[number, number]>([
    [0, 0],
    [0.999999, 4],
    [1, 4],
    [-0.5, 0],
  ])("randomIndex(%d) over 5 is %d (clamped)", (r, expected) => {
    expect(randomIndex(() => r, 5)).toBe(expected);
  });
});
